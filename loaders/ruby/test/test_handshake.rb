# frozen_string_literal: true
#
# The work-directory handshake (PROTOCOL.md §1), load errors, and the process's life: stdin EOF,
# SIGTERM, SIGQUIT, process title.

require_relative "support"

class HandshakeTest < Minitest::Test
  include FerryTest::Helpers

  def test_properties_socket_and_steps
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    sockets = s.properties["sockets"]
    assert_equal 1, sockets.size
    socket = sockets[0]
    assert_equal "main", socket["name"]
    assert_equal "session", socket["protocol"]
    assert_equal 1, socket["concurrency"]
    assert_equal true, socket["accept_http_requests"]
    assert_match(%r{\Aunix:#{Regexp.escape(s.socket_dir)}/ruby\.[0-9a-f]+\z}, socket["address"])

    stat = File.stat(s.socket_path)
    assert stat.socket?
    assert_equal 0o600, stat.mode & 0o777
    assert_equal Process.uid, stat.uid

    previous_end = 0.0
    FerryTest::STEPS.each do |step|
      assert_equal "STEP_PERFORMED", s.step_state(step), step
      began = Float(s.read_response_file("steps/#{step}/begin_time_monotonic"))
      ended = Float(s.read_response_file("steps/#{step}/end_time_monotonic"))
      assert_operator began, :<=, ended, step
      assert_operator previous_end, :<=, began, step
      previous_end = ended
    end
    assert_operator previous_end, :<=, Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_empty Dir.children(File.join(s.work_dir, "response", "error"))
    assert_equal "hello world", s.get("/hello").body
  end

  def test_process_title
    s = spawn_loader(FerryTest.app("rack-stub"), args: { "app_group_name" => "/srv/blog (production)" }).start!
    cmdline = File.read("/proc/#{s.pid}/cmdline")
    assert_match(%r{\AFerry RubyApp: /srv/blog \(production\)}, cmdline)
  end

  def test_process_title_defaults_when_absent
    s = spawn_loader(FerryTest.app("rack-stub"), args: { "process_title" => nil, "app_group_name" => "grp" }).start!
    assert_match(/\AFerry RubyApp: grp/, File.read("/proc/#{s.pid}/cmdline"))
  end

  def test_args_files_alone_are_enough
    s = spawn_loader(FerryTest.app("rack-stub"), args_json: false,
                     args: { "keepalive" => false, "concurrency_model" => "thread", "thread_count" => 2 }).start!
    refute File.exist?(File.join(s.work_dir, "args.json"))
    assert_equal 2, s.properties["sockets"][0]["concurrency"]
    response = s.connect.request("GET", "/hello")
    assert_equal "close", response["Connection"]
  end

  def test_advertised_concurrency_level
    s = spawn_loader(FerryTest.fixture("advertised")).start!
    assert_equal 7, s.properties["sockets"][0]["concurrency"]
    assert_equal "seven, with OutOfBandGc", s.get("/").body
  end

  def test_stdin_eof_graceful_exit
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    assert_equal "hello world", s.get("/hello").body
    socket = s.socket_path
    s.close_stdin
    status = s.wait_exit(10)
    refute_nil status, "the loader did not exit after stdin EOF"
    assert status.success?, "exit status #{status.inspect}; output:\n#{s.output}"
    assert_match(/rack-stub: stopping_worker_process/, s.output)
    refute File.exist?(socket), "the socket file was not removed"
  end

  def test_stdin_eof_lets_the_request_in_progress_finish
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    gate = File.join(s.socket_dir, "gate")
    client = s.connect
    client.send_request("GET", "/stream?gate=#{gate}")
    head = client.read_head
    assert_equal 200, head.status
    assert_equal "first\n", client.read_chunk
    s.close_stdin
    # The loader is stopping but must finish this response.
    File.write(gate, "")
    assert_equal "last\n", client.read_chunk
    assert_nil client.read_chunk
    assert client.eof?, "a stopping loader must not keep the connection"
    status = s.wait_exit(10)
    assert status&.success?, "exit status #{status.inspect}; output:\n#{s.output}"
    assert_match(/rack-stub: stopping_worker_process/, s.output)
  end

  def test_stdin_eof_closes_idle_kept_connections
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    client = s.connect
    assert_equal "hello world", client.request("GET", "/hello").body
    s.close_stdin
    status = s.wait_exit(10)
    assert status&.success?, "exit status #{status.inspect}; output:\n#{s.output}"
    assert client.eof?
  end

  def test_sigterm_exits_promptly
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    client = s.connect
    client.send_request("GET", "/stream?gate=#{File.join(s.socket_dir, 'never')}")
    assert_equal "first\n", (client.read_head && client.read_chunk)
    socket = s.socket_path
    s.signal("TERM")
    refute_nil s.wait_exit(5), "the loader did not exit on SIGTERM"
    refute File.exist?(socket)
  end

  def test_sigquit_prints_backtraces_and_goes_on
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    s.signal("QUIT")
    assert s.wait_output(/SIGQUIT: backtraces of all \d+ threads.*ferry_loader/m), s.output
    assert_equal "hello world", s.get("/hello").body
  end

  def test_load_error_is_reported
    s = spawn_loader(FerryTest.fixture("load-error"))
    s.start
    refute s.wait_finish, "finish must not be written"
    status = s.wait_exit(10)
    refute status.success?
    assert_equal "STEP_PERFORMED", s.step_state("subprocess_exec_wrapper")
    assert_equal "STEP_PERFORMED", s.step_state("subprocess_wrapper_preparation")
    assert_equal "STEP_ERRORED", s.step_state("subprocess_app_load_or_exec")
    assert s.read_response_file("steps/subprocess_app_load_or_exec/end_time_monotonic")
    assert_nil s.step_state("subprocess_listen")
    assert_equal "INTERNAL_ERROR", s.read_response_file("error/category")
    assert_equal "The application encountered the following error: ferry-load-boom (RuntimeError)",
                 s.read_response_file("error/summary")
    details = s.read_response_file("error/advanced_problem_details")
    assert_match(/RuntimeError: ferry-load-boom/, details)
    assert_match(/config\.ru:\d+:in `helper_that_fails'/, details)
    assert_match(/RUBY_DESCRIPTION = ruby /, s.annotation("ruby_info"))
    assert_includes s.annotation("load_path"), File.join(FerryTest::LOADER_DIR, "lib")
    assert_match(/ferry-load-boom/, s.output)
    refute File.exist?(File.join(s.work_dir, "response", "properties.json"))
    assert_empty Dir.children(s.socket_dir), "no socket may be left behind"
  end

  def test_system_call_error_category
    s = spawn_loader(FerryTest.fixture("syscall-error"))
    s.start
    refute s.wait_finish
    refute s.wait_exit(10).success?
    assert_equal "OPERATING_SYSTEM_ERROR", s.read_response_file("error/category")
    assert_match(/\AThe application encountered the following error: No such file or directory .* \(Errno::ENOENT\)\z/,
                 s.read_response_file("error/summary"))
  end

  def test_io_error_category
    s = spawn_loader(FerryTest.fixture("io-error"))
    s.start
    refute s.wait_finish
    refute s.wait_exit(10).success?
    assert_equal "IO_ERROR", s.read_response_file("error/category")
    assert_equal "The application encountered the following error: ferry-io-boom (IOError)",
                 s.read_response_file("error/summary")
  end

  def test_syntax_error
    s = spawn_loader(FerryTest.fixture("syntax-error"))
    s.start
    refute s.wait_finish
    refute s.wait_exit(10).success?
    assert_equal "STEP_ERRORED", s.step_state("subprocess_app_load_or_exec")
    assert_match(/\(SyntaxError\)\z/, s.read_response_file("error/summary"))
  end

  def test_missing_startup_file
    s = spawn_loader(FerryTest.fixture("advertised"), startup_file: "/nonexistent/ferry/config.ru")
    s.start
    refute s.wait_finish
    refute s.wait_exit(10).success?
    assert_equal "STEP_ERRORED", s.step_state("subprocess_app_load_or_exec")
    assert_match(%r{/nonexistent/ferry/config\.ru}, s.read_response_file("error/summary"))
  end

  def test_no_work_dir_aborts
    out = IO.popen({ "PASSENGER_SPAWN_WORK_DIR" => nil }, [RbConfig.ruby, FerryTest::LOADER, err: %i[child out]], in: :close, &:read)
    refute $?.success?
    assert_match(/PASSENGER_SPAWN_WORK_DIR/, out)
  end
end
