# frozen_string_literal: true
#
# A one-file Rails app for bench/refork.sh that, like many production apps, leaves work to the
# first requests: `eager_load` is off (controllers, helpers and views load and compile on first
# use), the first request renders an ERB view (ActionView compiles it), looks up translations
# (I18n loads its locale files), requires libraries on first use, and fills an in-process cache.
# A worker forked from a cold preloader does all of that itself, in private memory; one forked
# from a warmed template inherits it, shared copy-on-write.
#
#   GET /     the page (warms everything)
#   GET /pid  "<pid> <ppid>"

require "rails"
require "action_controller/railtie"
require "action_view/railtie"

class LazyApp < Rails::Application
  config.root = __dir__
  config.eager_load = false
  config.cache_classes = true
  config.logger = Logger.new(nil)
  config.log_level = :fatal
  config.secret_key_base = "refork-bench-" * 8
  config.hosts.clear
  config.consider_all_requests_local = false
  config.action_controller.perform_caching = false
  routes.append do
    get "/" => "pages#index"
    get "/pid" => "pages#pid"
  end
end

LazyApp.initialize!

run LazyApp
