# frozen_string_literal: true
#
# The request handler: the unix socket the loader listens on, the worker threads that accept
# connections on it (one by default, `thread_count` with concurrency_model=thread), and the
# process's life after the handshake (loaders/PROTOCOL.md §4): end of file on stdin stops it
# gracefully, SIGTERM stops it at once, SIGQUIT prints every thread's backtrace. A PROMOTE
# request (§6.4) ends serving too, without ending the process: the main thread makes it the
# app's template.

require "socket"
require_relative "connection"

module FerryLoader
  class Server
    BACKLOG = 1024

    attr_reader :app, :password, :keepalive, :base_env, :rack3, :stopping, :socket_path, :thread_count,
                :listener, :wakeup

    def initialize(app:, password:, keepalive:, thread_count:, rack3:)
      @app = app
      @password = password
      @keepalive = keepalive
      @thread_count = thread_count
      @rack3 = rack3
      @stopping = false
      @threads = []
      @wakeup, @wakeup_writer = IO.pipe
      @promote_reader, @promote_writer = IO.pipe
      @promotion = nil
      @base_env = {
        "rack.version" => [1, 3].freeze,
        "rack.errors" => $stderr,
        "rack.multithread" => thread_count > 1,
        "rack.multiprocess" => true,
        "rack.run_once" => false,
        "rack.hijack?" => true,
        "SCRIPT_NAME" => ""
      }.freeze
    end

    # Creates the socket `<dir>/ruby.<random>` (mode 0600). Returns its path.
    def listen(dir)
      attempts = 0
      begin
        path = File.join(dir, "ruby.#{Random.urandom(8).unpack1('H*')}")
        @listener = UNIXServer.new(path)
      rescue Errno::EADDRINUSE
        attempts += 1
        retry if attempts < 10
        raise
      end
      @socket_path = path
      File.chmod(0o600, path)
      @listener.listen(BACKLOG)
      path
    end

    # The rack.input for a request with a body.
    def new_input(source)
      @rack3 ? StreamInput.new(source) : RewindableInput.new(source)
    end

    def oob_work
      PhusionPassenger.call_event(:oob_work)
    rescue StandardError => e
      warn "[ferry rack-loader] an oob_work callback failed: #{e.message} (#{e.class})\n    " +
           (e.backtrace || []).join("\n    ")
    end

    def start_workers
      @thread_count.times do |index|
        thread = Thread.new(index) { |i| worker(i) }
        thread.report_on_exception = false
        thread.name = "ferry worker #{index}" if thread.respond_to?(:name=)
        @threads << thread
      end
    end

    # Blocks until stdin reaches end of file (Ferry wants the process to stop): nil; or until a
    # PROMOTE request came: its connection, to answer on.
    def wait_for_stdin_eof
      loop do
        ready, = IO.select([$stdin, @promote_reader])
        return @promotion if ready.include?(@promote_reader)
        $stdin.readpartial(4096)
      end
    rescue EOFError, IOError, SystemCallError
      nil
    end

    # Called by the worker thread that read a PROMOTE request: hands its connection to the main
    # thread (#wait_for_stdin_eof returns it).
    def promote(io)
      @promotion = io
      @promote_writer.write(".")
    end

    # Stops accepting, lets requests in progress finish, fires :stopping_worker_process.
    def shutdown
      @stopping = true
      @wakeup_writer.write(".") # wakes the threads idling on kept connections
      begin
        @listener&.close # wakes the threads blocked in accept (IOError)
      rescue IOError, SystemCallError
        nil
      end
      @threads.each(&:join)
      remove_socket
      PhusionPassenger.call_event(:stopping_worker_process)
    end

    # Stops serving for a promotion to template: no thread, socket or pipe of the server is left,
    # and no event fires (the process goes on, as a preloader).
    def stop_for_promotion
      @stopping = true
      @wakeup_writer.write(".")
      begin
        @listener&.close
      rescue IOError, SystemCallError
        nil
      end
      @threads.each(&:join)
      remove_socket
      [@wakeup, @wakeup_writer, @promote_reader, @promote_writer].each do |io|
        io.close
      rescue IOError
        nil
      end
    end

    def remove_socket
      File.unlink(@socket_path) if @socket_path
    rescue SystemCallError
      nil
    end

    def install_signal_handlers
      trap("TERM") do
        remove_socket
        exit!(0)
      end
      trap("QUIT") { print_backtraces }
      trap("HUP", "IGNORE")
    end

    private

    def worker(index)
      PhusionPassenger.call_event(:starting_request_handler_thread)
      socket = nil
      loop do
        socket ||= @stopping ? nil : accept
        break unless socket
        conn = Connection.new(socket, self)
        conn.serve
        socket = conn.handoff
      end
    rescue Exception => e # rubocop:disable Lint/RescueException
      unless e.is_a?(SystemExit) || e.is_a?(SignalException)
        warn "[ferry rack-loader] worker thread #{index} crashed: #{e.message} (#{e.class})\n    " +
             (e.backtrace || []).join("\n    ")
      end
      Thread.main.raise(e)
    end

    # The next connection, or nil when the listening socket was closed (shutting down).
    def accept
      loop do
        return @listener.accept
      rescue IOError, Errno::EBADF
        return nil
      rescue Errno::ECONNABORTED, Errno::EPROTO, Errno::EINTR
        next
      rescue Errno::EMFILE, Errno::ENFILE, Errno::ENOBUFS, Errno::ENOMEM => e
        warn "[ferry rack-loader] accept failed: #{e.message}; retrying"
        sleep 0.1
      end
    end

    def print_backtraces
      text = +"[ferry rack-loader] SIGQUIT: backtraces of all #{Thread.list.size} threads of process #{Process.pid}\n"
      Thread.list.each do |thread|
        text << "Thread #{thread.inspect}:\n"
        (thread.backtrace || ["(no backtrace)"]).each { |line| text << "    " << line << "\n" }
        text << "\n"
      end
      $stderr.write(text)
      $stderr.flush
    rescue StandardError
      nil
    end
  end
end
