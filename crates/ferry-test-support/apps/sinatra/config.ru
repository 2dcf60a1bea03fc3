# frozen_string_literal: true
#
# sinatra: config.ru of the classic Sinatra test app (see app.rb).

require_relative "app"

run Sinatra::Application
