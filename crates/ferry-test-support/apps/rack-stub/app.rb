# frozen_string_literal: true
#
# rack-stub: the Rack fixture app of Ferry's integration tests (Rack 2 and Rack 3).
#
# Paths are PATH_INFO (the app may be mounted at a base URI):
#
#   GET  /hello                   -> 200 text/plain "hello world" (with Content-Length)
#   GET  /env                     -> JSON of every String env value, plus "rack.input.bytes" (body
#                                    bytes read) and the rack.multithread/multiprocess/run_once/hijack? flags
#   POST /upload                  -> reads rack.input in 64 KiB pieces; JSON {"length": N, "sha256": hex}
#   GET  /stream?gate=/abs/path   -> body yields "first\n", waits (<= 20 s) for the gate file, yields "last\n"
#   GET  /stream-callable?gate=.. -> the same with a streaming (callable) body
#   GET  /cookies                 -> three Set-Cookie headers a=1, b=2, c=3
#   GET  /status/<code>           -> that status, empty body
#   GET  /large-header?size=N     -> header X-Large of N 'x', body "ok"
#   GET  /error                   -> raises RuntimeError "ferry-test-boom"
#   GET  /ws                      -> WebSocket echo through a full hijack (env['rack.hijack'])
#   GET  /ws-partial              -> WebSocket echo through a partial hijack (rack.hijack header)
#   GET  /pid                     -> the process id
#   GET  /events                  -> JSON list of the PhusionPassenger events seen so far
#   GET  /barrier?n=N[&timeout=S] -> waits until N requests are inside /barrier at once (at most
#                                    S seconds, default 10); "ok", or 504 "timeout"
#   GET  /rack-version            -> Rack.release
#   GET  /oob                     -> the process id, with X-Passenger-Request-OOB-Work: true (asks
#                                    Ferry for out-of-band work once the response is done)
#   GET  /whoami                  -> JSON {"pid": N, "events": [...]}: /pid and /events at once
#   ANY  /hang?gate=/abs/path     -> writes the process id to "<gate>.started", waits (<= 20 s) for
#                                    the gate file *before* answering, then "released"
#   ANY  /grow?mb=N               -> allocates N MB of written (private dirty) memory, kept for the
#                                    process's life; answers with the process id
#   POST /consume?record=/abs/p   -> appends to the record file: "arrived" on entry, "first-byte" once
#                                    the first body byte is read, then "complete N SHA256" or
#                                    "error CLASS: MESSAGE" if reading rack.input raises (a body
#                                    cut short); answers JSON {"length": N, "sha256": hex}
#   GET  /stream-record?gate=/abs/p&record=/abs/r
#                                 -> like /stream, and appends "finished" to the record once "last\n"
#                                    has been written, "closed" when the loader closes the body
#
# The :oob_work event handler records "oob_work" in /events. When FERRY_TEST_OOB_DIR is set, it
# also creates "$FERRY_TEST_OOB_DIR/oob-started-<pid>" and then waits (<= 20 s) for
# "$FERRY_TEST_OOB_DIR/oob-release" to exist, so a test can hold a process in out-of-band work.
#
# FERRY_TEST_LINT=1 wraps the app in Rack::Lint (see config.ru).

require "json"
require "digest"
require "base64"
require "rack"

module RackStub
  RACK3 = Rack.release.to_i >= 3
  EVENTS = []
  EVENTS_LOCK = Mutex.new

  def self.record(event)
    EVENTS_LOCK.synchronize { EVENTS << event }
  end

  if defined?(PhusionPassenger)
    PhusionPassenger.on_event(:starting_worker_process) { |forked| record("starting_worker_process:#{forked}") }
    PhusionPassenger.on_event(:oob_work) do
      record("oob_work")
      hold_oob_work(ENV["FERRY_TEST_OOB_DIR"])
    end
    PhusionPassenger.on_event(:stopping_worker_process) do
      record("stopping_worker_process")
      $stderr.puts "rack-stub: stopping_worker_process"
    end
  end

  # Out-of-band work a test can watch and hold: see the header comment.
  def self.hold_oob_work(dir)
    return if dir.nil? || dir.empty?
    File.write(File.join(dir, "oob-started-#{Process.pid}"), "")
    wait_for_file(File.join(dir, "oob-release"))
  end

  # Memory /grow allocated, kept so that it stays in use.
  GROWN = []

  # The body of /stream: a first chunk at once, the last one when the gate file exists.
  class GatedBody
    def initialize(gate)
      @gate = gate
    end

    def each
      yield "first\n"
      RackStub.wait_for_file(@gate)
      yield "last\n"
    end
  end

  # Appends `line` to the file `path` (nothing without a path).
  def self.record_to(path, line)
    return if path.nil? || path.empty?
    File.open(path, "a") { |f| f.write("#{line}\n") }
  end

  def self.wait_for_file(path)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 20
    until path.nil? || path.empty? || File.exist?(path) ||
          Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.01
    end
  end

  # A minimal WebSocket (RFC 6455) echo over an IO: unmasks client frames, answers unmasked.
  module WebSocket
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def self.accept_key(key)
      Base64.strict_encode64(Digest::SHA1.digest(key.to_s + GUID))
    end

    def self.echo(io)
      loop do
        head = io.read(2)
        break if head.nil? || head.bytesize < 2
        b0, b1 = head.unpack("CC")
        opcode = b0 & 0x0f
        length = b1 & 0x7f
        if length == 126
          length = io.read(2).unpack1("n")
        elsif length == 127
          length = io.read(8).unpack1("Q>")
        end
        mask = (b1 & 0x80).zero? ? nil : io.read(4).bytes
        payload = length.zero? ? "".b : io.read(length)
        break if payload.nil? || payload.bytesize < length
        if mask
          bytes = payload.bytes
          bytes.each_index { |i| bytes[i] ^= mask[i & 3] }
          payload = bytes.pack("C*")
        end
        case opcode
        when 0x8 # close: answer with a close frame, then stop
          write_frame(io, 0x8, payload)
          break
        when 0x9 # ping
          write_frame(io, 0xA, payload)
        when 0xA # pong
          next
        else
          write_frame(io, opcode, payload)
        end
      end
    rescue IOError, SystemCallError
      nil
    ensure
      begin
        io.close
      rescue IOError, SystemCallError
        nil
      end
    end

    def self.write_frame(io, opcode, payload)
      len = payload.bytesize
      header = if len < 126
                 [0x80 | opcode, len].pack("CC")
               elsif len < 65_536
                 [0x80 | opcode, 126, len].pack("CCn")
               else
                 [0x80 | opcode, 127, len].pack("CCQ>")
               end
      io.write(header + payload.b)
      io.flush
    end
  end

  class App
    def initialize
      @barrier_lock = Mutex.new
      @barrier_cond = ConditionVariable.new
      @barrier_arrived = 0
      @barrier_generation = 0
    end

    def call(env)
      path = env["PATH_INFO"].to_s
      case path
      when "/hello" then text("hello world")
      when "/env" then env_json(env)
      when "/upload" then upload(env)
      when "/stream" then [200, { "content-type" => "text/plain" }, GatedBody.new(param(env, "gate"))]
      when "/stream-callable" then stream_callable(env)
      when "/cookies" then cookies
      when %r{\A/status/(\d{3})\z} then [Regexp.last_match(1).to_i, {}, []]
      when "/large-header"
        text("ok", "x-large" => "x" * param(env, "size").to_i)
      when "/error" then raise "ferry-test-boom"
      when "/ws" then websocket_full(env)
      when "/ws-partial" then websocket_partial(env)
      when "/pid" then text(Process.pid.to_s)
      when "/events" then json(EVENTS_LOCK.synchronize { EVENTS.dup })
      when "/barrier" then barrier(param(env, "n").to_i, (param(env, "timeout") || 10).to_f)
      when "/rack-version" then text(Rack.release)
      when "/oob" then text(Process.pid.to_s, "x-passenger-request-oob-work" => "true")
      when "/whoami" then json("pid" => Process.pid, "events" => EVENTS_LOCK.synchronize { EVENTS.dup })
      when "/hang" then hang(param(env, "gate"))
      when "/grow" then grow(param(env, "mb").to_i)
      when "/consume" then consume(env, param(env, "record"))
      when "/stream-record" then stream_record(param(env, "gate"), param(env, "record"))
      else [404, { "content-type" => "text/plain", "content-length" => "10" }, ["not found\n"]]
      end
    end

    private

    def param(env, name)
      Rack::Utils.parse_query(env["QUERY_STRING"].to_s)[name]
    end

    def text(body, extra = {})
      [200, { "content-type" => "text/plain", "content-length" => body.bytesize.to_s }.merge(extra), [body]]
    end

    def json(value, status = 200)
      body = JSON.generate(value)
      [status, { "content-type" => "application/json", "content-length" => body.bytesize.to_s }, [body]]
    end

    def read_input(env)
      input = env["rack.input"]
      return [0, Digest::SHA256.new] unless input
      digest = Digest::SHA256.new
      total = 0
      buffer = String.new
      while (piece = input.read(65_536, buffer))
        total += piece.bytesize
        digest.update(piece)
      end
      [total, digest]
    end

    def env_json(env)
      bytes, = read_input(env)
      out = {}
      env.each { |key, value| out[key] = value if value.is_a?(String) }
      %w[rack.multithread rack.multiprocess rack.run_once rack.hijack?].each { |k| out[k] = env[k] if env.key?(k) }
      out["rack.input.bytes"] = bytes
      json(out)
    end

    def upload(env)
      length, digest = read_input(env)
      json("length" => length, "sha256" => digest.hexdigest)
    end

    def stream_callable(env)
      gate = param(env, "gate")
      body = lambda do |stream|
        stream.write("first\n")
        RackStub.wait_for_file(gate)
        stream.write("last\n")
      ensure
        stream.close
      end
      [200, { "content-type" => "text/plain" }, body]
    end

    def cookies
      value = RACK3 ? %w[a=1 b=2 c=3] : "a=1\nb=2\nc=3"
      [200, { "content-type" => "text/plain", "content-length" => "2", "set-cookie" => value }, ["ok"]]
    end

    def websocket_full(env)
      unless env["rack.hijack"]
        return [501, { "content-type" => "text/plain", "content-length" => "12" }, ["no hijack\n\n"]]
      end
      io = env["rack.hijack"].call
      io = env["rack.hijack_io"] if !RACK3 && env["rack.hijack_io"]
      io.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
               "Sec-WebSocket-Accept: #{WebSocket.accept_key(env['HTTP_SEC_WEBSOCKET_KEY'])}\r\n\r\n")
      io.flush
      WebSocket.echo(io)
      [200, {}, []]
    end

    def websocket_partial(env)
      headers = {
        "upgrade" => "websocket",
        "connection" => "Upgrade",
        "sec-websocket-accept" => WebSocket.accept_key(env["HTTP_SEC_WEBSOCKET_KEY"]),
        "rack.hijack" => ->(io) { WebSocket.echo(io) }
      }
      [101, headers, []]
    end

    # Announces that the request is inside the app, then answers only once the gate exists.
    def hang(gate)
      return [400, { "content-type" => "text/plain", "content-length" => "7" }, ["no gate"]] if gate.to_s.empty?
      File.write("#{gate}.started", Process.pid.to_s)
      RackStub.wait_for_file(gate)
      text("released")
    end

    # Reads the body, writing down how it went (see the header comment).
    def consume(env, record)
      RackStub.record_to(record, "arrived")
      input = env["rack.input"]
      digest = Digest::SHA256.new
      total = 0
      buffer = String.new
      begin
        while (piece = input.read(65_536, buffer))
          RackStub.record_to(record, "first-byte") if total.zero? && !piece.empty?
          total += piece.bytesize
          digest.update(piece)
        end
      rescue Exception => e # rubocop:disable Lint/RescueException
        RackStub.record_to(record, "error #{e.class}: #{e.message}")
        raise
      end
      RackStub.record_to(record, "complete #{total} #{digest.hexdigest}")
      json("length" => total, "sha256" => digest.hexdigest)
    end

    # The body of /stream-record: /stream's, and a record of how far it got.
    class RecordedBody < GatedBody
      def initialize(gate, record)
        super(gate)
        @record = record
      end

      def each(&block)
        super
        RackStub.record_to(@record, "finished")
      end

      def close
        RackStub.record_to(@record, "closed")
      end
    end

    def stream_record(gate, record)
      [200, { "content-type" => "text/plain" }, RecordedBody.new(gate, record)]
    end

    # Each MB is a fresh string: "x" * n writes all n bytes, so the pages are private and dirty.
    def grow(megabytes)
      megabytes.times { GROWN << ("x" * (1024 * 1024)) }
      text(Process.pid.to_s)
    end

    # A reusable barrier: each group of `count` arrivals is released together.
    def barrier(count, timeout)
      count = 1 if count < 1
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      reached = @barrier_lock.synchronize do
        generation = @barrier_generation
        @barrier_arrived += 1
        if @barrier_arrived >= count
          @barrier_arrived = 0
          @barrier_generation += 1
          @barrier_cond.broadcast
        else
          while generation == @barrier_generation
            left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
            break if left <= 0
            @barrier_cond.wait(@barrier_lock, left)
          end
          @barrier_arrived -= 1 if generation == @barrier_generation
        end
        generation != @barrier_generation
      end
      reached ? text("ok") : [504, { "content-type" => "text/plain", "content-length" => "7" }, ["timeout"]]
    end
  end
end
