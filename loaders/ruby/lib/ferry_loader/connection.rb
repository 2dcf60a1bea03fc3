# frozen_string_literal: true
#
# One connection from Ferry on the `session` socket (loaders/PROTOCOL.md §2): reads request
# frames, turns each into a Rack env, calls the app and writes the HTTP/1.1 response. Handles
# keep-alive (§2.4), hijacking (full and partial), Rack 3 streaming bodies, the special
# OOBW / PING requests (§2.6), and PROMOTE (re-forking, §6.4: the connection is handed to the
# main thread, which turns the process into its app's template and answers on it).

require_relative "input"

module FerryLoader
  # Writing to the connection failed: Ferry closed it.
  class ClientGone < StandardError; end

  class Connection
    FRAME_READ_SIZE = 16 * 1024
    MAX_FRAME = 1024 * 1024
    CRLF = "\r\n"
    LAST_CHUNK = "0\r\n\r\n"
    HEAD_END = "\r\n"
    HEAD_END_CLOSE = "Connection: close\r\n\r\n"
    ERROR_BODY = "Internal Server Error\n"

    # Status lines, built once per code.
    STATUS_LINES = Hash.new do |cache, code|
      reason = (defined?(::Rack::Utils::HTTP_STATUS_CODES) && ::Rack::Utils::HTTP_STATUS_CODES[code]) || "Unknown"
      cache[code] = "HTTP/1.1 #{code} #{reason}\r\n".b.freeze
    end

    attr_reader :io

    def initialize(io, server)
      @io = io
      @server = server
      @buf = String.new(encoding: Encoding::BINARY)
      @hijacked = false
      @handoff = nil
      @env = nil
      @hijack = method(:hijack)
    end

    # A connection accepted while this one was idle between requests (see #next_request?).
    attr_reader :handoff

    # Serves requests until the connection is closed or may not be kept.
    def serve
      while (payload = read_frame)
        break unless handle(payload)
        break if @server.stopping || !next_request?
      end
    rescue IOError, SystemCallError, ClientGone
      # Ferry went away.
    rescue StandardError => e
      log_exception(e, @env || {}, "in the loader's request handling")
    ensure
      unless @hijacked
        begin
          @io.close
        rescue IOError, SystemCallError
          nil
        end
      end
    end

    # Between two requests on a kept connection: waits for the next frame. Also watches the
    # listening socket (a new connection while this thread idles here would otherwise wait for
    # this one to be dropped) and the shutdown pipe. Returns false when the kept connection is
    # to be closed; a connection accepted meanwhile is left in #handoff.
    def next_request?
      return true unless @buf.empty?
      watched = [@io, @server.listener, @server.wakeup]
      loop do
        readable, = IO.select(watched)
        return true if readable.include?(@io)
        return false if @server.stopping
        if readable.include?(@server.listener)
          socket = @server.listener.accept_nonblock(exception: false)
          next if socket == :wait_readable
          @handoff = socket
          return false
        end
      end
    end

    # ---- reading ----------------------------------------------------------------------------

    # The next frame's payload, or nil at end of file (or for a frame too large).
    def read_frame
      while @buf.bytesize < 4
        return nil unless fill
      end
      len = @buf.unpack1("N")
      if len > MAX_FRAME
        warn "[ferry rack-loader] request frame of #{len} bytes refused (at most #{MAX_FRAME})"
        return nil
      end
      total = 4 + len
      while @buf.bytesize < total
        return nil unless fill
      end
      payload = @buf.byteslice(4, len)
      @buf = @buf.bytesize == total ? String.new(encoding: Encoding::BINARY) : @buf.byteslice(total, @buf.bytesize - total)
      payload
    end

    # Up to `max` bytes (in `into` when given): the buffered ones first, else one read from the
    # socket. nil at EOF.
    def read_some(max, into = nil)
      buffered = @buf.bytesize
      if buffered.zero?
        begin
          return into ? @io.readpartial(max, into) : @io.readpartial(max)
        rescue EOFError
          return nil
        end
      end
      if buffered <= max
        data = @buf
        @buf = String.new(encoding: Encoding::BINARY)
      else
        data = @buf.byteslice(0, max)
        @buf = @buf.byteslice(max, buffered - max)
      end
      into ? into.replace(data) : data
    end

    # A line without its CRLF, or nil at EOF. Raises BadRequestBody for a line over `limit`.
    def read_line(limit)
      until (idx = @buf.index("\n"))
        raise BadRequestBody, "line too long" if @buf.bytesize > limit
        return nil unless fill
      end
      line = @buf.byteslice(0, idx)
      line.chomp!("\r")
      @buf = @buf.byteslice(idx + 1, @buf.bytesize - idx - 1)
      line
    end

    private

    def fill
      data = @io.readpartial(FRAME_READ_SIZE)
      if @buf.empty?
        @buf = data
      else
        @buf << data
      end
      true
    rescue EOFError
      false
    end

    # ---- one request --------------------------------------------------------------------------

    # Handles one frame. Returns true when the connection may carry another request.
    def handle(payload)
      # KEY\0VALUE\0...: split keeps empty values; the piece after the last NUL is dropped.
      parts = payload.split("\0", -1)
      parts.pop
      parts.pop if parts.size.odd? # a malformed frame: ignore the dangling key
      env = Hash[*parts] # a later duplicate key overrides an earlier one
      env.update(@server.base_env) { |_key, from_frame, _default| from_frame }

      password = env.delete("PASSENGER_CONNECT_PASSWORD")
      expected = @server.password
      if expected && password != expected
        warn "[ferry rack-loader] request refused: #{password ? 'wrong' : 'no'} connect password"
        return false
      end

      method = env["REQUEST_METHOD"]
      case method
      when "OOBW"
        @server.oob_work
        @io.write("oobw done")
        return false
      when "PING"
        @io.write("pong")
        return false
      when "PROMOTE"
        @hijacked = true # the main thread answers on it and closes it
        @server.promote(@io)
        return false
      when nil, ""
        warn "[ferry rack-loader] request frame without REQUEST_METHOD refused"
        return false
      end

      has_body, input = prepare_env(env)
      @env = env
      begin
        keep = call_app(env, method, has_body)
      ensure
        input.cleanup unless input.equal?(EMPTY_INPUT)
        @env = nil
      end
      keep
    end

    # Completes the env. Returns [has_body, input].
    def prepare_env(env)
      protocol = (env["SERVER_PROTOCOL"] ||= "HTTP/1.1")
      env["HTTP_VERSION"] = protocol
      script_name = env["SCRIPT_NAME"]
      env["SCRIPT_NAME"] = script_name = "" if script_name.nil? || script_name == "/"
      path_info = env["PATH_INFO"]
      if path_info.nil?
        uri = env["REQUEST_URI"] || "/"
        path_info = uri.split("?", 2)[0]
        path_info = path_info.byteslice(script_name.bytesize..-1) if !script_name.empty? && path_info.start_with?(script_name)
        env["PATH_INFO"] = path_info
      end
      env["PATH_INFO"] = "/" if path_info.empty? && script_name.empty?
      env["QUERY_STRING"] ||= ""
      env["SERVER_NAME"] ||= "localhost"
      env["SERVER_PORT"] ||= "80"
      env["REMOTE_ADDR"] ||= "127.0.0.1"
      https = env["HTTPS"]
      env["rack.url_scheme"] = https && (https.casecmp?("on") || https.casecmp?("yes") || https == "1") ? "https" : "http"
      env.delete("HTTP_CONTENT_LENGTH")
      env.delete("HTTP_CONTENT_TYPE")

      source = nil
      has_body = false
      if (te = env["HTTP_TRANSFER_ENCODING"])
        env.delete("HTTP_TRANSFER_ENCODING")
        env.delete("CONTENT_LENGTH")
        has_body = true
        source = ChunkedBody.new(self) if te.downcase.include?("chunked")
      elsif (length = env["CONTENT_LENGTH"])
        has_body = true
        length = length.to_i
        source = LengthBody.new(self, length) if length.positive?
      end
      input = source ? @server.new_input(source) : EMPTY_INPUT
      env["rack.input"] = input
      env["rack.hijack"] = @hijack
      env["rack.after_reply"] = []
      env["rack.response_finished"] = [] if @server.rack3
      [has_body, input]
    end

    def hijack
      @hijacked = true
      @env["rack.hijack_io"] = @io if @env
      @io
    end

    # Calls the app and writes its response. Returns whether the connection may be kept.
    def call_app(env, method, has_body)
      keep = @server.keepalive && !has_body
      status = headers = body = error = nil
      @head_sent = false
      begin
        status, headers, body = @server.app.call(env)
        return finish_hijacked(body) if @hijacked
        write_response(env, method, status, headers, body, keep)
      rescue ClientGone => e
        error = e
        false
      rescue ClientDisconnected => e
        # The client left mid-upload and Ferry reset the connection: nobody reads an answer.
        error = e
        warn "[ferry rack-loader] #{env['REQUEST_METHOD']} #{env['REQUEST_URI']}: #{e.message}"
        false
      rescue Exception => e # rubocop:disable Lint/RescueException
        error = e
        forward_fatal(e)
        log_exception(e, env)
        write_error_response unless @head_sent || @hijacked
        false
      end
    ensure
      run_after_reply(env, status, headers, error)
    end

    # Writes to the connection; a failure means Ferry is gone.
    def emit(*parts)
      @head_sent = true
      @io.write(*parts)
    rescue IOError, SystemCallError => e
      raise ClientGone, "#{e.message} (#{e.class})"
    end

    def finish_hijacked(body)
      body.close if body.respond_to?(:close)
      false
    rescue Exception => e # rubocop:disable Lint/RescueException
      log_exception(e, @env || {})
      false
    end

    # Writes the response; returns whether the connection may be kept.
    def write_response(env, method, status, headers, body, keep)
      code = status.to_i
      head = build_head(code, headers, false)
      keep = false if @close_requested
      partial_hijack = @partial_hijack
      content_length = @content_length

      if partial_hijack
        head << HEAD_END
        emit(head)
        @hijacked = true
        partial_hijack.call(@io)
        return false
      end

      if method == "HEAD" || code < 200 || code == 204 || code == 304
        keep = false if code < 200
        head << (keep ? HEAD_END : HEAD_END_CLOSE)
        emit(head)
        return keep
      end

      if @app_chunked
        write_raw_body(head << (keep ? HEAD_END : HEAD_END_CLOSE), body)
      elsif (array = body_array(body))
        keep = write_array_body(head, array, keep, content_length)
      elsif content_length
        keep = write_sized_body(head, body, content_length, keep)
      elsif body.respond_to?(:each)
        write_chunked_body(head << "Transfer-Encoding: chunked\r\n" << (keep ? HEAD_END : HEAD_END_CLOSE), body)
      elsif body.respond_to?(:call)
        keep = write_streaming_body(head << "Transfer-Encoding: chunked\r\n" << (keep ? HEAD_END : HEAD_END_CLOSE), body, keep)
      else
        raise TypeError, "the response body (#{body.class}) responds to neither #each nor #call"
      end
      keep
    ensure
      close_body(body)
    end

    # The status line and the headers, without the final CRLF. Also sets @content_length,
    # @app_chunked, @partial_hijack and @close_requested. Names and values are appended as they
    # are; should their encodings clash (UTF-8 and binary, both non-ASCII), the head is built
    # again from the bytes.
    def build_head(code, headers, binary)
      head = STATUS_LINES[code].dup
      @content_length = nil
      @app_chunked = false
      @partial_hijack = nil
      @close_requested = false
      headers&.each do |name, value|
        case name.bytesize
        when 14
          if name.casecmp?("content-length")
            @content_length = (value.is_a?(Array) ? value.first : value).to_s
          end
        when 17
          @app_chunked = true if name.casecmp?("transfer-encoding")
        when 10
          if name.casecmp?("connection")
            @close_requested = true if value.to_s.downcase.include?("close")
            next unless code == 101
          end
        when 11
          if name == "rack.hijack"
            @partial_hijack = value
            next
          end
        when 6
          next if name.casecmp?("status")
        end
        next if name.start_with?("rack.")
        if !binary && value.instance_of?(String) && !value.include?("\n")
          head << name << ": " << value << CRLF
        else
          add_header(head, name, value, binary)
        end
      end
      head
    rescue Encoding::CompatibilityError
      raise if binary
      build_head(code, headers, true)
    end

    # One header of any value shape: a String holding "\n"-separated values (Rack 2), an Array
    # (Rack 3), or something else (to_s).
    def add_header(head, name, value, binary)
      if value.is_a?(String)
        if binary
          name = name.b
          value = value.b
        end
        if value.include?("\n")
          value.split("\n").each { |line| head << name << ": " << line.chomp("\r") << CRLF }
        else
          head << name << ": " << value << CRLF
        end
      elsif value.is_a?(Array)
        value.each { |v| add_header(head, name, v.to_s, binary) }
      elsif !value.nil?
        add_header(head, name, value.to_s, binary)
      end
    end

    def body_array(body)
      return body if body.instance_of?(Array)
      return body.to_ary if @server.rack3 && body.respond_to?(:to_ary)
      nil
    end

    # An Array body: its length is known, the head and the parts go out in one writev.
    def write_array_body(head, array, keep, declared)
      length = 0
      array.each { |part| length += part.bytesize }
      if declared.nil?
        head << "Content-Length: " << length.to_s << CRLF
      elsif declared.to_i != length
        warn "[ferry rack-loader] response body has #{length} bytes but Content-Length says #{declared}; closing the connection"
        keep = false
      end
      head << (keep ? HEAD_END : HEAD_END_CLOSE)
      if array.size <= 64
        emit(head, *array)
      else
        emit(head)
        array.each { |part| emit(part) }
      end
      keep
    end

    # A body of the size the app declared. Sent as it comes; the head goes with the first part.
    def write_sized_body(head, body, content_length, keep)
      expected = content_length.to_i
      head << (keep ? HEAD_END : HEAD_END_CLOSE)
      if body.respond_to?(:to_path) && (path = body.to_path) && (File.size(path) rescue -1) == expected
        emit(head)
        begin
          File.open(path, "rb") { |f| IO.copy_stream(f, @io, expected) }
        rescue Errno::EPIPE, Errno::ECONNRESET, IOError => e
          raise ClientGone, e.message
        end
        return keep
      end
      sent = 0
      over = false
      pending = head
      body.each do |part|
        next if part.empty?
        if sent + part.bytesize > expected
          # Never past the declared length: bytes after it would be read as the next response
          # on this connection (issue 16). The excess is dropped, as the WSGI loader does.
          over = true
          part = part.byteslice(0, expected - sent)
          next if part.empty?
        end
        sent += part.bytesize
        if pending
          emit(pending, part)
          pending = nil
        else
          emit(part)
        end
      end
      emit(pending) if pending
      # Cut at its length, the response leaves the connection where the next one can start.
      warn "[ferry rack-loader] response body is longer than its Content-Length (#{expected}); the excess is dropped" if over
      if sent != expected
        warn "[ferry rack-loader] response body has #{sent} bytes but Content-Length says #{expected}; closing the connection"
        return false
      end
      keep
    end

    # A body the app chunk-encoded itself (it set Transfer-Encoding).
    def write_raw_body(head, body)
      pending = head
      body.each do |part|
        next if part.empty?
        if pending
          emit(pending, part)
          pending = nil
        else
          emit(part)
        end
      end
      emit(pending) if pending
    end

    # A body of unknown length, chunk-encoded; each part is written as soon as it is yielded.
    def write_chunked_body(head, body)
      pending = head
      body.each do |part|
        size = part.bytesize
        next if size.zero?
        if pending
          emit(pending, size.to_s(16), CRLF, part, CRLF)
          pending = nil
        else
          emit(size.to_s(16), CRLF, part, CRLF)
        end
      end
      if pending
        emit(pending, LAST_CHUNK)
      else
        emit(LAST_CHUNK)
      end
    end

    # A Rack 3 streaming body: body.call(stream), chunk-encoded.
    def write_streaming_body(head, body, keep)
      emit(head)
      stream = ChunkedStream.new(@io, @env && @env["rack.input"])
      begin
        body.call(stream)
      ensure
        stream.close
      end
      keep && !stream.broken
    end

    def close_body(body)
      body.close if body.respond_to?(:close)
    rescue Exception => e # rubocop:disable Lint/RescueException
      forward_fatal(e)
      log_exception(e, @env || {}, "while closing the response body")
    end

    def write_error_response
      @io.write("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n" \
                "Content-Length: #{ERROR_BODY.bytesize}\r\nConnection: close\r\n\r\n#{ERROR_BODY}")
    rescue IOError, SystemCallError
      nil
    end

    def run_after_reply(env, status, headers, error)
      if (callbacks = env["rack.after_reply"]) && !callbacks.empty?
        callbacks.each do |callback|
          callback.call
        rescue Exception => e # rubocop:disable Lint/RescueException
          forward_fatal(e)
          log_exception(e, env, "in a rack.after_reply callback")
        end
      end
      if (callbacks = env["rack.response_finished"]) && !callbacks.empty?
        callbacks.reverse_each do |callback|
          callback.call(env, status, headers, error)
        rescue Exception => e # rubocop:disable Lint/RescueException
          forward_fatal(e)
          log_exception(e, env, "in a rack.response_finished callback")
        end
      end
    end

    # `exit` and signals raised inside the app must end the process, not just this thread.
    # (The worker thread passes them on to the main thread.)
    def forward_fatal(error)
      raise error if error.is_a?(SystemExit) || error.is_a?(SignalException)
    end

    def log_exception(error, env, where = nil)
      where ||= "while handling #{env['REQUEST_METHOD']} #{env['REQUEST_URI'] || env['PATH_INFO']}"
      text = +"[ferry rack-loader] Error in the Rack application #{where}: #{error.message} (#{error.class})\n"
      (error.backtrace || []).each { |line| text << "    from " << line << "\n" }
      cause = error.cause
      while cause
        text << "  caused by: #{cause.message} (#{cause.class})\n"
        (cause.backtrace || []).first(10).each { |line| text << "    from " << line << "\n" }
        cause = cause.cause
      end
      $stderr.write(text)
      $stderr.flush
    rescue IOError, SystemCallError
      nil
    end
  end

  # The `stream` given to a Rack 3 streaming body: writes become chunks of a chunked response,
  # reads come from the request body, close ends the response.
  class ChunkedStream
    attr_reader :broken

    def initialize(io, input)
      @io = io
      @input = input || EMPTY_INPUT
      @closed = false
      @broken = false
    end

    def write(*parts)
      raise IOError, "closed stream" if @closed
      total = 0
      parts.each do |part|
        part = part.to_s
        size = part.bytesize
        next if size.zero?
        begin
          @io.write(size.to_s(16), "\r\n", part, "\r\n")
        rescue IOError, SystemCallError
          @broken = true
          raise
        end
        total += size
      end
      total
    end

    def <<(part)
      write(part)
      self
    end

    def read(*args)
      @input.read(*args)
    end

    def flush
      self
    end

    def close_read
      nil
    end

    def close_write
      close
    end

    def close
      return if @closed
      @closed = true
      begin
        @io.write("0\r\n\r\n")
      rescue IOError, SystemCallError
        @broken = true
      end
      nil
    end

    def closed?
      @closed
    end
  end
end
