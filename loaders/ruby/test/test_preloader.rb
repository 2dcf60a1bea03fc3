# frozen_string_literal: true
#
# Preloader mode (smart spawning, PROTOCOL.md §6): the loader started with `preloader: true`
# loads the heavy-ruby app, reports a `preloader` socket, and forks a worker for each
# {"command":"spawn","work_dir":...} line; the worker takes the work directory's FIFOs as its
# stdio and finishes the handshake there, as Ferry's spawner expects.

require_relative "support"

module FerryTest
  # A worker forked by a preloader, driven the way Ferry drives it.
  class ForkedWorker
    attr_reader :work_dir, :pid, :socket_path, :properties, :password, :answer

    def initialize(preloader)
      @preloader = preloader
      @password = Array.new(16) { [*"a".."z", *"0".."9"].sample }.join
      @output = +""
    end

    # Creates the work directory (with the `stdin` and `stdout_and_err` FIFOs) and sends the
    # spawn command. Returns the preloader's answer.
    def command
      @work_dir = Dir.mktmpdir("ferry.spawn.")
      args = @preloader.args.reject { |k, _| k == "preloader" }
                       .merge("process_title" => "Ferry RubyApp", "connect_password" => @password,
                              "spawn_method" => "smart")
      File.write(File.join(@work_dir, "args.json"), JSON.generate(args))
      FileUtils.mkdir_p(File.join(@work_dir, "response", "error"))
      %w[preloader_preparation preloader_fork_subprocess preloader_send_response preloader_finish
         subprocess_prepare_after_forking_from_preloader subprocess_listen].each do |step|
        FileUtils.mkdir_p(File.join(@work_dir, "response", "steps", step))
      end
      File.mkfifo(File.join(@work_dir, "response", "finish"), 0o600)
      %w[stdin stdout_and_err].each { |name| File.mkfifo(File.join(@work_dir, name), 0o600) }
      # As Ferry: stdin read-write (never blocks); the output's reader, plus a writer held until
      # the handshake ends so the FIFO does not read as end-of-file before the worker opens it.
      @stdin = File.open(File.join(@work_dir, "stdin"), File::RDWR)
      @out = File.open(File.join(@work_dir, "stdout_and_err"), File::RDONLY | File::NONBLOCK)
      @keep = File.open(File.join(@work_dir, "stdout_and_err"), File::WRONLY | File::NONBLOCK)
      @answer = FerryTest.preloader_command(@preloader.socket_path,
                                            "command" => "spawn", "work_dir" => @work_dir)
      @pid = @answer["pid"]
      @answer
    end

    def start!(timeout = 30)
      raise LoaderFailed, "preloader answered #{@answer.inspect}" unless command["result"] == "ok"
      fifo = File.open(File.join(@work_dir, "response", "finish"), File::RDWR | File::NONBLOCK)
      ready = IO.select([fifo], nil, nil, timeout)
      raise LoaderFailed, "no finish from worker #{@pid}; output:\n#{output}" unless ready && fifo.read_nonblock(1) == "1"
      fifo.close
      @keep.close
      @properties = JSON.parse(File.read(File.join(@work_dir, "response", "properties.json")))
      @socket_path = @properties["sockets"][0]["address"].delete_prefix("unix:")
      self
    end

    def step_state(step)
      path = File.join(@work_dir, "response", "steps", step, "state")
      File.exist?(path) ? File.read(path) : nil
    end

    # What the worker wrote to its stdout and stderr so far.
    def output
      loop { @output << @out.read_nonblock(65_536) }
    rescue IO::WaitReadable, EOFError, IOError
      @output
    end

    def get(path)
      client = Client.new(UNIXSocket.new(@socket_path), self)
      client.request("GET", path)
    ensure
      client&.close
    end

    # Closes the worker's stdin (Ferry's "stop").
    def stop
      @stdin.close unless @stdin.closed?
    end

    def cleanup
      stop
      begin
        Process.kill("KILL", @pid) if @pid && FerryTest.alive?(@pid)
      rescue Errno::ESRCH
        nil
      end
      [@out, @keep].each { |io| io.close if io && !io.closed? }
      FileUtils.rm_rf(@work_dir) if @work_dir
    end
  end

  # Sends one command line to a preloader socket and returns its parsed answer.
  def self.preloader_command(socket_path, command)
    socket = UNIXSocket.new(socket_path)
    socket.write(JSON.generate(command) + "\n")
    raise Timeout::Error, "no answer from the preloader" unless IO.select([socket], nil, nil, 30)
    JSON.parse(socket.gets)
  ensure
    socket&.close
  end

  def self.proc_stat(pid)
    text = File.read("/proc/#{pid}/stat")
    text[(text.rindex(")") + 2)..].split
  rescue SystemCallError
    nil
  end

  def self.ppid(pid)
    proc_stat(pid)&.fetch(1)&.to_i
  end

  # Running, and not a zombie.
  def self.alive?(pid)
    stat = proc_stat(pid)
    !stat.nil? && stat[0] != "Z"
  end

  # The inodes of the unix sockets `pid` holds open.
  def self.socket_inodes(pid)
    Dir.children("/proc/#{pid}/fd").filter_map do |fd|
      File.readlink("/proc/#{pid}/fd/#{fd}")[/\Asocket:\[(\d+)\]\z/, 1]
    rescue SystemCallError
      nil
    end
  end

  # The inode of the unix socket bound at `path` (from /proc/net/unix).
  def self.unix_socket_inode(path)
    line = File.readlines("/proc/net/unix").find { |l| l.split.last == path }
    line&.split&.fetch(6)
  end
end

class PreloaderTest < Minitest::Test
  include FerryTest::Helpers

  def setup
    @workers = []
    @preloader = spawn_loader(FerryTest.app("heavy-ruby"),
                              args: { "preloader" => true, "process_title" => "Ferry AppPreloader",
                                      "spawn_method" => "smart" },
                              env: { "HEAVY_LOAD_SECONDS" => "0", "HEAVY_ENTRIES" => "1000" })
    @preloader.start!
  end

  def teardown
    @workers.each(&:cleanup)
    super
  end

  def fork_worker
    worker = FerryTest::ForkedWorker.new(@preloader)
    @workers << worker
    worker.start!
  end

  def wait_until(timeout = 10)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until yield
      return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
    true
  end

  def test_the_preloader_reports_a_preloader_socket_and_its_title
    socket = @preloader.properties["sockets"][0]
    assert_equal "preloader", socket["protocol"]
    refute socket["accept_http_requests"]
    assert File.socket?(@preloader.socket_path)
    assert_equal 0o600, File.stat(@preloader.socket_path).mode & 0o777
    assert_match(/\AFerry AppPreloader: /, File.read("/proc/#{@preloader.pid}/cmdline"))
    FerryTest::STEPS.each { |step| assert_equal "STEP_PERFORMED", @preloader.step_state(step), step }
  end

  def test_a_forked_worker_finishes_the_handshake_in_its_work_directory
    worker = fork_worker
    assert_equal @preloader.pid, FerryTest.ppid(worker.pid)
    assert_equal "true", worker.get("/forked").body
    assert_equal "1000", worker.get("/size").body
    %w[preloader_fork_subprocess preloader_send_response subprocess_prepare_after_forking_from_preloader
       subprocess_listen].each { |step| assert_equal "STEP_PERFORMED", worker.step_state(step), step }
    assert_match(/\AFerry RubyApp: /, File.read("/proc/#{worker.pid}/cmdline"))
    # Its own process group, so Ferry can stop it and whatever it starts.
    assert_equal worker.pid, FerryTest.proc_stat(worker.pid)[2].to_i
  end

  def test_workers_draw_different_random_numbers
    a = fork_worker
    b = fork_worker
    refute_equal a.get("/random").body, b.get("/random").body
  end

  def test_the_worker_does_not_hold_the_preloader_socket
    worker = fork_worker
    inode = FerryTest.unix_socket_inode(@preloader.socket_path)
    refute_nil inode
    assert_includes FerryTest.socket_inodes(@preloader.pid), inode
    refute_includes FerryTest.socket_inodes(worker.pid), inode
  end

  def test_bad_commands_get_error_answers
    answer = FerryTest.preloader_command(@preloader.socket_path, "command" => "dance")
    assert_equal "error", answer["result"]
    assert_match(/unknown command/, answer["message"])
    answer = FerryTest.preloader_command(@preloader.socket_path, "command" => "spawn", "work_dir" => "/nonexistent/x")
    assert_equal "error", answer["result"]
    assert_match(/does not exist/, answer["message"])
    # Still serving.
    assert_equal "true", fork_worker.get("/forked").body
  end

  def test_exited_workers_are_reaped_and_stdin_eof_stops_the_preloader
    worker = fork_worker
    worker.stop
    assert wait_until { !FerryTest.alive?(worker.pid) && FerryTest.ppid(worker.pid) != @preloader.pid },
           "the preloader did not reap its worker"
    socket = @preloader.socket_path
    status = @preloader.stop
    assert status&.success?, "preloader exit: #{status.inspect}"
    refute File.exist?(socket), "the preloader left its socket behind"
  end
end
