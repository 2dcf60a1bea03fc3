# frozen_string_literal: true
#
# Ferry's loader for Ruby Rack applications (Rack 2 and 3).
#
# Ferry starts it as `ruby <ferry_root>/loaders/ruby/rack-loader.rb` in the app's root directory,
# with PASSENGER_SPAWN_WORK_DIR naming the spawn's work directory. It loads the app's config.ru,
# listens on a unix socket speaking the `session` protocol, reports the socket through the work
# directory, and serves requests until its stdin reaches end of file. The contract is
# loaders/PROTOCOL.md; the code lives in lib/ferry_loader/ (lib/ is also where apps find
# `phusion_passenger` and `phusion_passenger/rack/out_of_band_gc`).

started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
lib = File.expand_path("lib", __dir__)
$LOAD_PATH.unshift(lib) unless $LOAD_PATH.include?(lib)
require "phusion_passenger"
require "ferry_loader/loader"

FerryLoader::Loader.new(started).run
