# frozen_string_literal: true
#
# `PhusionPassenger::Rack::OutOfBandGc`: Rack middleware that moves garbage collection out of
# the request path. Every N requests it marks the response with the `!~Request-OOB-Work` header;
# Ferry then stops routing requests to this process and sends it an OOBW request, during which
# the loader fires the :oob_work event, whose callback (registered here) runs GC.start.
#
#   use PhusionPassenger::Rack::OutOfBandGc, 5
#   use PhusionPassenger::Rack::OutOfBandGc, :strategy => :counting, :frequency => 5

require File.expand_path("../../phusion_passenger", __dir__) unless defined?(PhusionPassenger.on_event)

module PhusionPassenger
  module Rack
    class OutOfBandGc
      # Rack 3 requires lower-case header names; Ferry matches them case-insensitively.
      HEADER = if defined?(::Rack.release) && ::Rack.release.to_i >= 3
                 "!~request-oob-work"
               else
                 "!~Request-OOB-Work"
               end

      def initialize(app, frequency = nil, logger = nil)
        @app = app
        options = frequency.is_a?(Hash) ? frequency : { frequency: frequency, logger: logger }
        @strategy = (options[:strategy] || :counting).to_sym
        @frequency = Integer(options[:frequency] || 5)
        @logger = options[:logger]
        raise ArgumentError, "frequency must be at least 1" if @frequency < 1
        unless %i[counting gctools_oobgc].include?(@strategy)
          raise ArgumentError, "unknown OutOfBandGc strategy #{@strategy.inspect}"
        end
        if @strategy == :gctools_oobgc && !(defined?(::GC::OOB) && ::GC::OOB.respond_to?(:run))
          warn "[ferry] OutOfBandGc: GC::OOB (gctools) is not loaded; counting requests instead"
          @strategy = :counting
        end
        if @strategy == :gctools_oobgc
          ::GC::OOB.setup if ::GC::OOB.respond_to?(:setup)
          PhusionPassenger.on_event(:oob_work) { run_gctools }
        else
          PhusionPassenger.on_event(:oob_work) { run_gc }
        end
        @mutex = Mutex.new
        @requests = 0
      end

      def call(env)
        status, headers, body = @app.call(env)
        if due?
          headers = {} if headers.nil?
          headers[HEADER] = "true"
        end
        [status, headers, body]
      end

      private

      def due?
        @mutex.synchronize do
          @requests += 1
          if @requests >= @frequency
            @requests = 0
            true
          else
            false
          end
        end
      end

      def run_gc
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        GC.start
        log { format("Out-of-band GC finished in %.1f ms", (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000) }
      end

      def run_gctools
        ::GC::OOB.run
      end

      def log
        @logger&.info(yield)
      end
    end
  end
end
