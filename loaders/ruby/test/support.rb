# frozen_string_literal: true
#
# Test support for the Ruby loader: starts `ruby rack-loader.rb` exactly as Ferry does (a work
# directory with args.json, args/ files, the finish FIFO, the step directories; stdin a pipe) and
# talks the `session` protocol to the socket it reports.

require "minitest"
require "socket"
require "json"
require "tmpdir"
require "fileutils"
require "timeout"
require "rbconfig"

module FerryTest
  LOADER_DIR = File.expand_path("..", __dir__)
  LOADER = File.join(LOADER_DIR, "rack-loader.rb")
  REPO = File.expand_path("../../..", __dir__)
  APPS = File.join(REPO, "crates", "ferry-test-support", "apps")
  FIXTURES = File.join(__dir__, "apps")
  STEPS = %w[subprocess_exec_wrapper subprocess_wrapper_preparation subprocess_app_load_or_exec subprocess_listen].freeze

  # Set by run.rb for the second pass: loaders get this gem dir (holding Rack 3) as GEM_HOME.
  def self.rack3_home
    ENV["FERRY_TEST_RACK3"] == "1" ? ENV["FERRY_RACK3_GEM_HOME"] : nil
  end

  def self.rack3?
    !rack3_home.nil?
  end

  def self.app(name)
    File.join(APPS, name)
  end

  def self.fixture(name)
    File.join(FIXTURES, name)
  end

  # Builds a session-protocol frame.
  def self.frame(pairs)
    payload = +"".b
    pairs.each { |k, v| payload << k.to_s.b << "\0" << v.to_s.b << "\0" }
    [payload.bytesize].pack("N") + payload
  end

  class LoaderFailed < StandardError; end

  # One loader process.
  class Spawn
    attr_reader :work_dir, :pid, :properties, :socket_path, :socket_dir, :password, :app_root, :status

    def initialize(app_root, startup_file: nil, args: {}, env: {}, args_json: true)
      @app_root = app_root
      @args_json = args_json
      @startup_file = startup_file || File.join(app_root, "config.ru")
      @extra_args = args
      @env = env
      @output = +""
      @output_lock = Mutex.new
      @output_cond = ConditionVariable.new
      @status = nil
      @password = Array.new(16) { [*"a".."z", *"A".."Z", *"0".."9"].sample }.join
    end

    def args
      {
        "app_root" => @app_root,
        "app_group_name" => "#{@app_root} (production)",
        "app_type" => "ruby",
        "app_env" => "production",
        "startup_file" => @startup_file,
        "socket_dir" => @socket_dir,
        "connect_password" => @password,
        "api_key" => @password,
        "process_title" => "Ferry RubyApp",
        "base_uri" => "/",
        "log_level" => 3,
        "ruby_libdir" => File.join(LOADER_DIR, "lib"),
        "passenger_root" => REPO,
        "bind_address" => "127.0.0.1",
        "spawn_method" => "direct",
        "environment_variables" => {},
        "UNIX_PATH_MAX" => 107
      }.merge(@extra_args)
    end

    # Creates the work directory as Ferry does and starts the loader.
    def start
      @work_dir = Dir.mktmpdir("ferry.spawn.")
      @socket_dir = Dir.mktmpdir("ferry-sock.")
      all = args
      File.write(File.join(@work_dir, "args.json"), JSON.generate(all)) if @args_json
      Dir.mkdir(File.join(@work_dir, "args"))
      all.each do |key, value|
        if value.is_a?(Hash) || value.is_a?(Array)
          File.write(File.join(@work_dir, "args", "#{key}.json"), JSON.generate(value))
        else
          File.write(File.join(@work_dir, "args", key), value.nil? ? "" : value.to_s)
        end
      end
      FileUtils.mkdir_p(File.join(@work_dir, "response", "error"))
      STEPS.each { |step| FileUtils.mkdir_p(File.join(@work_dir, "response", "steps", step)) }
      FileUtils.mkdir_p(File.join(@work_dir, "envdump", "annotations"))
      File.mkfifo(File.join(@work_dir, "response", "finish"), 0o600)

      env = {
        "PASSENGER_SPAWN_WORK_DIR" => @work_dir,
        "IN_PASSENGER" => "1",
        "PASSENGER_APP_ENV" => "production",
        "RACK_ENV" => "production",
        "RAILS_ENV" => "production",
        "PASSENGER_BASE_URI" => "/",
        "BUNDLE_GEMFILE" => nil,
        "RUBYOPT" => nil
      }
      env["GEM_HOME"] = FerryTest.rack3_home if FerryTest.rack3?
      env.merge!(@env)
      stdin_r, @stdin = IO.pipe
      out_r, out_w = IO.pipe
      @pid = Process.spawn(env, RbConfig.ruby, LOADER, chdir: @app_root, in: stdin_r,
                           out: out_w, err: out_w, close_others: true)
      stdin_r.close
      out_w.close
      @reader = Thread.new do
        loop do
          data = out_r.readpartial(65_536)
          @output_lock.synchronize do
            @output << data
            @output_cond.broadcast
          end
        end
      rescue EOFError, IOError
        @output_lock.synchronize { @output_cond.broadcast }
      ensure
        out_r.close unless out_r.closed?
      end
      self
    end

    # Waits for the finish FIFO (true) or the process's exit (false).
    def wait_finish(timeout = 30)
      fifo = File.open(File.join(@work_dir, "response", "finish"), File::RDWR | File::NONBLOCK)
      deadline = now + timeout
      begin
        loop do
          if IO.select([fifo], nil, nil, 0.02)
            return fifo.read_nonblock(1) == "1"
          end
          return false if exited?
          raise LoaderFailed, "no finish after #{timeout} s; output:\n#{output}" if now > deadline
        end
      ensure
        fifo.close
      end
    end

    # Starts and waits until ready; raises with the output when the loader fails.
    def start!(timeout = 30)
      start
      unless wait_finish(timeout)
        wait_exit(5)
        raise LoaderFailed, "loader did not start (status #{@status.inspect}); output:\n#{output}\n" \
                            "error summary: #{read_response_file('error/summary').inspect}"
      end
      @properties = JSON.parse(File.read(File.join(@work_dir, "response", "properties.json")))
      @socket_path = @properties["sockets"][0]["address"].delete_prefix("unix:")
      self
    end

    def read_response_file(relative)
      path = File.join(@work_dir, "response", relative)
      File.exist?(path) ? File.read(path) : nil
    end

    def step_state(step)
      read_response_file("steps/#{step}/state")
    end

    def annotation(name)
      path = File.join(@work_dir, "envdump", "annotations", name)
      File.exist?(path) ? File.read(path) : nil
    end

    def output
      @output_lock.synchronize { @output.dup }
    end

    # Waits until the output matches `pattern`; returns the match or nil after `timeout`.
    def wait_output(pattern, timeout = 10)
      deadline = now + timeout
      @output_lock.synchronize do
        loop do
          m = pattern.match(@output)
          return m if m
          left = deadline - now
          return nil if left <= 0 || !@reader.alive?
          @output_cond.wait(@output_lock, left)
        end
      end
    end

    def exited?
      return true if @status
      pid, status = Process.waitpid2(@pid, Process::WNOHANG)
      @status = status if pid
      !@status.nil?
    end

    def wait_exit(timeout = 10)
      deadline = now + timeout
      until exited?
        return nil if now > deadline
        sleep 0.01
      end
      @reader.join(2)
      @status
    end

    # Closes stdin (Ferry's "stop") and waits for the exit.
    def stop(timeout = 10)
      close_stdin
      status = wait_exit(timeout)
      kill unless status
      status
    end

    def close_stdin
      @stdin.close unless @stdin.closed?
    end

    def signal(name)
      Process.kill(name, @pid)
    end

    def kill
      return if exited?
      Process.kill("KILL", @pid)
      wait_exit(5)
    rescue Errno::ESRCH
      nil
    end

    def cleanup
      kill
      close_stdin
      FileUtils.rm_rf(@work_dir) if @work_dir
      FileUtils.rm_rf(@socket_dir) if @socket_dir
    end

    def connect
      Client.new(UNIXSocket.new(@socket_path), self)
    end

    # One request on a fresh connection; returns the Response.
    def request(method, path, **opts)
      client = connect
      begin
        client.request(method, path, **opts)
      ensure
        client.close
      end
    end

    def get(path, **opts)
      request("GET", path, **opts)
    end

    private

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end

  Response = Struct.new(:status, :reason, :headers, :body, :raw_head) do
    def [](name)
      pair = headers.find { |k, _| k.casecmp?(name) }
      pair && pair[1]
    end

    def all(name)
      headers.select { |k, _| k.casecmp?(name) }.map { |_, v| v }
    end

    def json
      JSON.parse(body)
    end
  end

  # A connection to the loader's socket, with buffered reading of HTTP responses.
  class Client
    TIMEOUT = 30

    attr_reader :socket

    def initialize(socket, spawn)
      @socket = socket
      @spawn = spawn
      @buf = +"".b
    end

    def close
      @socket.close unless @socket.closed?
    end

    # The env pairs Ferry would send for a request.
    def env_for(method, path, headers: {}, body: nil, chunked: false, extra: {}, password: :default)
      script_name = extra.delete("SCRIPT_NAME") || ""
      path_only, query = path.split("?", 2)
      pairs = {
        "REQUEST_URI" => script_name + path,
        "PATH_INFO" => path_only,
        "SCRIPT_NAME" => script_name,
        "QUERY_STRING" => query.to_s,
        "REQUEST_METHOD" => method,
        "SERVER_NAME" => "example.test",
        "SERVER_PORT" => "8080",
        "SERVER_PROTOCOL" => "HTTP/1.1",
        "SERVER_SOFTWARE" => "Ferry/test",
        "REMOTE_ADDR" => "127.0.0.1",
        "REMOTE_PORT" => "4242",
        "HTTP_HOST" => "example.test:8080"
      }
      if body
        if chunked
          pairs["HTTP_TRANSFER_ENCODING"] = "chunked"
        else
          pairs["CONTENT_LENGTH"] = body.bytesize.to_s
        end
      end
      headers.each { |k, v| pairs["HTTP_#{k.upcase.tr('-', '_')}"] = v }
      pairs.merge!(extra)
      pairs["PASSENGER_CONNECT_PASSWORD"] = password == :default ? @spawn.password : password if password
      pairs
    end

    # Sends a request (body: String, or an Enumerable of pieces); half-closes after a body.
    def send_request(method, path, body: nil, chunked: false, half_close: nil, **opts)
      body_str = body.is_a?(String) ? body : (body ? "" : nil)
      pairs = env_for(method, path, body: body_str, chunked: chunked, **opts)
      @socket.write(FerryTest.frame(pairs))
      if body
        pieces = body.is_a?(String) ? [body] : body
        if chunked
          pieces.each { |p| @socket.write("#{p.bytesize.to_s(16)}\r\n", p, "\r\n") unless p.empty? }
          @socket.write("0\r\n\r\n")
        else
          pieces.each { |p| @socket.write(p) }
        end
      end
      @socket.close_write if half_close.nil? ? !body.nil? : half_close
    end

    def request(method, path, **opts)
      send_request(method, path, **opts)
      read_response(head: method == "HEAD")
    end

    # Reads one HTTP response.
    def read_response(head: false)
      head_text = read_until("\r\n\r\n")
      raise EOFError, "connection closed before a response head" unless head_text
      lines = head_text.split("\r\n")
      status_line = lines.shift
      _, code, reason = status_line.split(" ", 3)
      headers = lines.map { |l| l.split(": ", 2) }
      response = Response.new(code.to_i, reason, headers, nil, head_text)
      status = code.to_i
      response.body =
        if head || status < 200 || status == 204 || status == 304
          "".b
        elsif (te = response["Transfer-Encoding"]) && te.casecmp?("chunked")
          read_chunked
        elsif (cl = response["Content-Length"])
          read_exactly(cl.to_i)
        else
          read_to_eof
        end
      response
    end

    # Reads the head and returns [Response without body]; the body is read with read_chunk.
    def read_head
      head_text = read_until("\r\n\r\n") or raise EOFError, "no head"
      lines = head_text.split("\r\n")
      _, code, reason = lines.shift.split(" ", 3)
      Response.new(code.to_i, reason, lines.map { |l| l.split(": ", 2) }, nil, head_text)
    end

    # One chunk of a chunked body (nil for the last one).
    def read_chunk
      size_line = read_until("\r\n") or raise EOFError, "eof in chunk size"
      size = size_line.to_i(16)
      if size.zero?
        read_until("\r\n")
        return nil
      end
      data = read_exactly(size)
      read_exactly(2)
      data
    end

    def read_chunked
      out = +"".b
      while (chunk = read_chunk)
        out << chunk
      end
      out
    end

    def read_exactly(n)
      fill until @buf.bytesize >= n
      data = @buf.byteslice(0, n)
      @buf = @buf.byteslice(n, @buf.bytesize - n)
      data
    end

    def read_until(delimiter)
      until (idx = @buf.index(delimiter))
        return nil unless fill(eof_ok: true)
      end
      text = @buf.byteslice(0, idx)
      @buf = @buf.byteslice(idx + delimiter.bytesize, @buf.bytesize - idx - delimiter.bytesize)
      text
    end

    def read_to_eof
      nil while fill(eof_ok: true)
      data = @buf
      @buf = +"".b
      data
    end

    # True when the peer closed the connection (with nothing more to read) within `timeout`.
    def eof?(timeout = TIMEOUT)
      return false unless @buf.empty?
      raise Timeout::Error, "no EOF after #{timeout} s" unless @socket.wait_readable(timeout)
      data = @socket.read_nonblock(65_536, exception: false)
      return true if data.nil?
      return false if data == :wait_readable
      @buf << data
      false
    rescue Errno::ECONNRESET
      true
    end

    def write(data)
      @socket.write(data)
    end

    private

    def fill(eof_ok: false)
      unless @socket.wait_readable(TIMEOUT)
        raise Timeout::Error, "no data from the loader after #{TIMEOUT} s; output:\n#{@spawn.output}"
      end
      @buf << @socket.readpartial(65_536)
      true
    rescue EOFError, Errno::ECONNRESET
      raise EOFError, "unexpected EOF" unless eof_ok
      false
    end
  end

  # Shared helpers for test classes.
  module Helpers
    def spawn_loader(app_root, **opts)
      spawn = Spawn.new(app_root, **opts)
      (@spawns ||= []) << spawn
      spawn
    end

    def teardown
      (@spawns || []).each(&:cleanup)
      super
    end

    def skip_unless_rack2(reason)
      skip "#{reason} (this pass runs Rack 3)" if FerryTest.rack3?
    end
  end

  # One loader per test class, started on first use and stopped when the run ends.
  module SharedSpawn
    def self.get(key)
      @spawns ||= {}
      @spawns[key] ||= yield
    end

    def self.cleanup_all
      (@spawns || {}).each_value(&:cleanup)
    end
  end
end
