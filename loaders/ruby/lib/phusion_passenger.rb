# frozen_string_literal: true
#
# The `PhusionPassenger` public API that Rack apps written for Passenger use, provided by Ferry's
# Ruby loader: event hooks (`on_event`), `require_passenger_lib`, and
# `advertised_concurrency_level`. Apps test `defined?(PhusionPassenger)` and register callbacks;
# the loader fires the events at the matching points of the process's life.

module PhusionPassenger
  # The Passenger API level this module provides.
  VERSION_STRING = "6.0.24"
  PACKAGE_NAME = "ferry"

  # Directory holding `phusion_passenger/...` support files (this file's directory).
  LIBDIR = File.expand_path(__dir__)

  EVENTS = %i[
    starting_worker_process
    stopping_worker_process
    starting_request_handler_thread
    credentials
    after_installing_signal_handlers
    oob_work
    unhandled_exception_before_exit
    promoted_to_template
  ].freeze

  @event_callbacks = EVENTS.each_with_object({}) { |name, h| h[name] = [] }
  @advertised_concurrency_level = nil

  class << self
    # The concurrency the app asks the loader to advertise to Ferry (nil: the loader decides).
    attr_accessor :advertised_concurrency_level

    # Registers a callback for one of EVENTS. Raises ArgumentError for any other name.
    def on_event(name, &block)
      list = @event_callbacks[name.is_a?(String) ? name.to_sym : name]
      raise ArgumentError, "Unknown event name '#{name}'" unless list
      raise ArgumentError, "on_event(#{name.inspect}) needs a block" unless block
      list << block
      nil
    end

    # Runs the callbacks of an event, in registration order. Used by the loader.
    def call_event(name, *args)
      list = @event_callbacks.fetch(name) { raise ArgumentError, "Unknown event name '#{name}'" }
      list.each { |callback| callback.call(*args) }
      nil
    end

    # True when at least one callback is registered for the event.
    def event_registered?(name)
      !@event_callbacks.fetch(name, []).empty?
    end

    # `require_passenger_lib 'rack/out_of_band_gc'` loads phusion_passenger/rack/out_of_band_gc.
    def require_passenger_lib(name)
      require File.join(LIBDIR, "phusion_passenger", name)
    end
  end
end
