# frozen_string_literal: true
#
# Preloader mode (smart spawning; loaders/PROTOCOL.md §6). With `preloader: true` in its
# arguments the loader loads the app as usual, then, instead of serving requests, listens on a
# unix socket that speaks the `preloader` protocol:
#
#   Ferry:      {"command":"spawn","work_dir":"/dev/shm/ferry.spawn.XXXX"}\n
#   preloader:  {"result":"ok","pid":1234}\n     or   {"result":"error","message":"..."}\n
#
# For each command it forks a worker. The worker takes the work directory's `stdin` and
# `stdout_and_err` FIFOs as its stdin, stdout and stderr, closes the preloader's descriptors,
# becomes the leader of its own process group, and returns from Preloader#run to the loader,
# which finishes the start like a directly spawned process (in the new work directory). The
# preloader reaps its exited workers and exits when its stdin reaches end of file.
#
# A worker promoted to template (re-forking, PROTOCOL.md §6.4) becomes a preloader through
# #promote: no work directory, the answer goes on the PROMOTE connection instead:
#
#   template:   {"result":"ok","socket":"unix:/.../preloader.XXXX"}\n   or an error line

require "socket"
require_relative "mini_json"

module FerryLoader
  class Preloader
    MAX_COMMAND = 10_240

    def initialize(loader, work_dir, args)
      @loader = loader
      @work_dir = work_dir
      @args = args
    end

    # Listens, reports the socket, and serves commands. Returns only in a forked worker.
    def run
      listen
      prepare_for_forking
      @work_dir.report_success(
        "sockets" => [{ "name" => "preloader", "address" => "unix:#{@path}", "protocol" => "preloader",
                        "concurrency" => 1 }]
      )
      serve_commands
    end

    # In a worker that stopped serving for a PROMOTE request: fires :promoted_to_template (the
    # app closes its connections and stops its threads), listens, prepares the heap, answers on
    # `client`, and serves commands. Returns only in a forked worker.
    def promote(client)
      begin
        PhusionPassenger.call_event(:promoted_to_template)
      rescue StandardError => e
        warn "[ferry rack-loader] a promoted_to_template callback failed: #{e.message} (#{e.class})\n    " +
             (e.backtrace || []).join("\n    ")
      end
      begin
        listen
        prepare_for_forking
      rescue Exception => e # rubocop:disable Lint/RescueException
        answer(client, "result" => "error", "message" => "#{e.message} (#{e.class})")
        exit!(1)
      end
      answer(client, "result" => "ok", "socket" => "unix:#{@path}")
      serve_commands
    end

    private

    def serve_commands
      loop do
        ready, = IO.select([@server, $stdin])
        if ready.include?($stdin) && stdin_ended?
          shutdown
        end
        next unless ready.include?(@server)
        client = accept
        next unless client
        return if serve_command(client) == :worker
      end
    end

    # The APP_LOAD step ends here (the app is loaded); LISTEN covers the command socket.
    def listen
      @work_dir&.finish_step(WorkDir::STEPS[2])
      @work_dir&.begin_step(WorkDir::STEPS[3])
      attempts = 0
      begin
        @path = File.join(@loader.socket_dir, "preloader.#{Random.urandom(8).unpack1('H*')}")
        @server = UNIXServer.new(@path)
      rescue Errno::EADDRINUSE
        attempts += 1
        retry if attempts < 10
        raise
      end
      File.chmod(0o600, @path)
      trap("TERM") do
        remove_socket
        exit!(0)
      end
      trap("CHLD") { reap }
      @work_dir&.finish_step(WorkDir::STEPS[3])
    rescue Exception => e # rubocop:disable Lint/RescueException
      remove_socket
      raise e
    end

    # Prepares the heap for sharing, so that workers share as many clean pages as possible with
    # the preloader (copy-on-write): compacted, and every surviving object promoted to the old
    # generation. A young object that a worker's GC ages or promotes has its header written,
    # which copies its whole page. Ruby 3.3's Process.warmup does all of this.
    def prepare_for_forking
      if Process.respond_to?(:warmup)
        Process.warmup
        return
      end
      begin
        GC.compact if GC.respond_to?(:compact)
      rescue NotImplementedError
        nil
      end
      # An object becomes old after surviving three collections.
      4.times { GC.start(full_mark: true, immediate_sweep: true) }
    end

    def stdin_ended?
      $stdin.read_nonblock(4096)
      false
    rescue IO::WaitReadable
      false
    rescue EOFError, IOError, SystemCallError
      true
    end

    def shutdown
      remove_socket
      exit!(0)
    end

    def accept
      @server.accept_nonblock
    rescue IO::WaitReadable, Errno::EINTR, Errno::ECONNABORTED, Errno::EPROTO
      nil
    end

    # Handles one command. Returns :worker in the forked worker, nil in the preloader.
    def serve_command(client)
      command = read_command(client)
      work_dir = command["work_dir"].to_s
      unless command["command"] == "spawn"
        return answer(client, "result" => "error", "message" => "unknown command #{command['command'].inspect}")
      end
      unless !work_dir.empty? && File.directory?(work_dir)
        return answer(client, "result" => "error", "message" => "the work directory #{work_dir.inspect} does not exist")
      end
      spawn_worker(client, WorkDir.new(work_dir))
    rescue StandardError => e
      answer(client, "result" => "error", "message" => "#{e.message} (#{e.class})")
    end

    def read_command(client)
      ready, = IO.select([client], nil, nil, 10)
      raise IOError, "no command within 10 s" unless ready
      line = client.gets("\n", MAX_COMMAND)
      raise IOError, "the connection closed before a command" unless line
      command = MiniJSON.parse(line)
      raise IOError, "the command is not a JSON object" unless command.is_a?(Hash)
      command
    end

    def spawn_worker(client, work_dir)
      work_dir.begin_step("preloader_preparation")
      $stdout.flush
      $stderr.flush
      work_dir.finish_step("preloader_preparation")
      work_dir.begin_step("preloader_fork_subprocess")
      pid = fork
      if pid.nil?
        begin
          become_worker(client, work_dir)
        rescue Exception => e # rubocop:disable Lint/RescueException
          work_dir.fail_step
          $stderr.write("[ferry rack-loader] the forked worker could not take its FIFOs: #{e.message} (#{e.class})\n")
          exit!(1)
        end
        return :worker
      end
      # Also set here, so that the group exists whichever of the two runs first.
      begin
        Process.setpgid(pid, pid)
      rescue SystemCallError
        nil
      end
      work_dir.finish_step("preloader_fork_subprocess")
      work_dir.begin_step("preloader_send_response")
      answer(client, "result" => "ok", "pid" => pid)
      work_dir.finish_step("preloader_send_response")
      work_dir.begin_step("preloader_finish")
      work_dir.finish_step("preloader_finish")
      nil
    end

    # In the child: its own process group, its stdio on the FIFOs, none of the preloader's
    # descriptors or signal handlers, and the loader pointed at the new work directory.
    def become_worker(client, work_dir)
      begin
        Process.setpgid(0, 0)
      rescue SystemCallError
        nil
      end
      trap("CHLD", "DEFAULT")
      trap("TERM", "DEFAULT")
      work_dir.begin_step(WorkDir::AFTER_FORK)
      $stdin.reopen(File.join(work_dir.path, "stdin"), "r")
      $stdout.reopen(File.join(work_dir.path, "stdout_and_err"), "w")
      $stderr.reopen($stdout)
      $stdout.sync = true
      $stderr.sync = true
      [client, @server].each do |io|
        io.close
      rescue IOError
        nil
      end
      ENV["PASSENGER_SPAWN_WORK_DIR"] = work_dir.path
      @loader.work_dir = work_dir
    end

    def answer(client, response)
      client.write(MiniJSON.generate(response) + "\n")
      nil
    rescue IOError, SystemCallError
      nil
    ensure
      client.close unless client.closed?
    end

    # Reaps every worker that exited (the preloader is their parent; Ferry watches them through
    # pidfds and cannot).
    def reap
      loop { break unless Process.wait(-1, Process::WNOHANG) }
    rescue Errno::ECHILD
      nil
    end

    def remove_socket
      File.unlink(@path) if @path
    rescue SystemCallError
      nil
    end
  end
end
