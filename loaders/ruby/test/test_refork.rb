# frozen_string_literal: true
#
# Re-forking (PROTOCOL.md §6.4): a worker forked from a preloader, sent a PROMOTE frame, stops
# serving, fires :promoted_to_template, and becomes a preloader itself: it answers with its new
# preloader socket, and the workers it forks for spawn commands are its children.

require_relative "support"
require_relative "test_preloader"

class ReforkTest < Minitest::Test
  include FerryTest::Helpers

  # What FerryTest::ForkedWorker needs of the process it asks for a worker.
  Template = Struct.new(:args, :socket_path)

  # Extra loader arguments (the thread model in the subclass below).
  def extra_args
    {}
  end

  def setup
    @workers = []
    @dir = Dir.mktmpdir("ferry-refork-test.")
    @events = File.join(@dir, "events")
    args = { "preloader" => true, "process_title" => "Ferry AppPreloader", "spawn_method" => "smart" }
    @preloader = spawn_loader(FerryTest.app("refork-rack"),
                              args: args.merge(extra_args),
                              env: { "REFORK_EVENT_FILE" => @events, "LAZY_ENTRIES" => "1000" })
    @preloader.start!
  end

  def teardown
    @workers.each(&:cleanup)
    FileUtils.rm_rf(@dir)
    super
  end

  def fork_from(preloader)
    worker = FerryTest::ForkedWorker.new(preloader)
    @workers << worker
    worker.start!
  end

  # Sends the PROMOTE frame; returns the answer line parsed, or nil when the connection closed.
  def promote(worker, password: worker.password)
    socket = UNIXSocket.new(worker.socket_path)
    socket.write(FerryTest.frame("REQUEST_METHOD" => "PROMOTE", "PASSENGER_CONNECT_PASSWORD" => password))
    raise Timeout::Error, "no answer to PROMOTE" unless IO.select([socket], nil, nil, 30)
    line = socket.gets
    line && JSON.parse(line)
  ensure
    socket&.close
  end

  def wait_until(timeout = 10)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until yield
      return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
    true
  end

  def test_a_promoted_worker_becomes_the_preloader_of_its_own_children
    worker = fork_from(@preloader)
    assert_equal "1000", worker.get("/lazy").body # warmed: the lazy code is loaded
    answer = promote(worker)
    assert_equal "ok", answer["result"], answer.inspect
    socket = answer["socket"].delete_prefix("unix:")
    assert File.socket?(socket)
    assert_equal 0o600, File.stat(socket).mode & 0o777
    refute File.exist?(worker.socket_path), "the template still has its request socket"
    assert_equal "promoted_to_template #{worker.pid}\n", File.read(@events)

    template = Template.new(@preloader.args, socket)
    child = fork_from(template)
    assert_equal worker.pid, FerryTest.ppid(child.pid)
    assert_equal worker.pid.to_s, child.get("/promoted").body
    assert_equal "1000", child.get("/lazy").body
    assert_equal child.pid, FerryTest.proc_stat(child.pid)[2].to_i, "its own process group"
    %w[preloader_fork_subprocess subprocess_prepare_after_forking_from_preloader subprocess_listen].each do |step|
      assert_equal "STEP_PERFORMED", child.step_state(step), step
    end

    # The template reaps its workers, and stops when its stdin ends.
    child.stop
    assert wait_until { !FerryTest.alive?(child.pid) && FerryTest.ppid(child.pid) != worker.pid },
           "the template did not reap its worker"
    worker.stop
    assert wait_until { !FerryTest.alive?(worker.pid) }, "the template did not stop"
    refute File.exist?(socket), "the template left its socket behind"
  end

  def test_promote_without_the_connect_password_is_refused
    worker = fork_from(@preloader)
    assert_nil promote(worker, password: "wrong")
    assert_equal "refork\n", worker.get("/").body
    refute File.exist?(@events)
  end
end

# The same with three request threads per worker: every one of them stops before the promotion.
class ThreadedReforkTest < ReforkTest
  def extra_args
    { "concurrency_model" => "thread", "thread_count" => 3 }
  end
end
