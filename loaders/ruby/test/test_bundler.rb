# frozen_string_literal: true
#
# Load path set-up before config.ru: Bundler (Gemfile / gems.rb), .bundle/environment.rb,
# config/setup_load_paths.rb, and the spawn error for a gem that is not installed. The apps are
# written into temporary directories (Bundler writes its lock file next to the Gemfile). They use
# only gems installed system-wide.

require_relative "support"

class BundlerTest < Minitest::Test
  include FerryTest::Helpers

  # Reports what the load path set-up did. `mustermann` is installed system-wide but in no
  # Gemfile here: Bundler.setup makes it unloadable.
  CONFIG_RU = <<~'RUBY'
    mustermann = begin
      require "mustermann"
      "loadable"
    rescue LoadError
      "blocked"
    end
    setup = defined?(::Bundler) && ::Bundler.instance_variable_defined?(:@setup) ? "yes" : "no"
    body = "bundler_setup=#{setup} mustermann=#{mustermann} " \
           "bundle_environment=#{$ferry_bundle_environment.inspect} " \
           "setup_load_paths=#{$ferry_setup_load_paths.inspect} rack=#{Rack.release}"
    run ->(_env) { [200, { "content-type" => "text/plain" }, [body]] }
  RUBY

  def make_app(files)
    dir = Dir.mktmpdir("ferry-bundler-app.")
    (@dirs ||= []) << dir
    { "config.ru" => CONFIG_RU }.merge(files).each do |name, content|
      path = File.join(dir, name)
      FileUtils.mkdir_p(File.dirname(path))
      File.write(path, content)
    end
    dir
  end

  def teardown
    super
    (@dirs || []).each { |d| FileUtils.rm_rf(d) }
  end

  def report(dir)
    s = spawn_loader(dir).start!
    s.get("/").body
  end

  def test_gemfile_is_set_up_with_bundler
    body = report(make_app("Gemfile" => "source \"https://rubygems.org\"\ngem \"rack\"\n"))
    assert_match(/bundler_setup=yes mustermann=blocked /, body)
    assert_match(/rack=#{FerryTest.rack3? ? '3\.' : '2\.'}/, body)
  end

  def test_gems_rb_is_set_up_with_bundler
    body = report(make_app("gems.rb" => "source \"https://rubygems.org\"\ngem \"rack\"\n"))
    assert_match(/bundler_setup=yes mustermann=blocked /, body)
  end

  def test_bundle_environment_rb_is_required_instead_of_bundler
    dir = make_app(
      "Gemfile" => "gem \"ferry-gem-that-does-not-exist\"\n", # Bundler.setup would fail
      ".bundle/environment.rb" => "$ferry_bundle_environment = true\n"
    )
    body = report(dir)
    assert_match(/bundler_setup=no mustermann=loadable bundle_environment=true setup_load_paths=nil/, body)
  end

  def test_setup_load_paths_overrides_everything
    dir = make_app(
      "Gemfile" => "gem \"ferry-gem-that-does-not-exist\"\n",
      ".bundle/environment.rb" => "raise 'environment.rb must not be loaded'\n",
      "config/setup_load_paths.rb" => "$ferry_setup_load_paths = true\n"
    )
    body = report(dir)
    assert_match(/bundler_setup=no mustermann=loadable bundle_environment=nil setup_load_paths=true/, body)
  end

  def test_missing_gem_is_a_spawn_error_with_a_solution
    dir = make_app("Gemfile" => "source \"https://rubygems.org\"\ngem \"rack\"\ngem \"ferry-gem-that-does-not-exist\"\n")
    s = spawn_loader(dir)
    s.start
    refute s.wait_finish
    refute s.wait_exit(30).success?
    assert_equal "STEP_ERRORED", s.step_state("subprocess_wrapper_preparation")
    assert_nil s.step_state("subprocess_app_load_or_exec")
    assert_equal "INTERNAL_ERROR", s.read_response_file("error/category")
    summary = s.read_response_file("error/summary")
    assert_match(/\AThe application encountered the following error: .*ferry-gem-that-does-not-exist.*\(Bundler::GemNotFound\)\z/, summary)
    assert_match(/not installed/, s.read_response_file("error/problem_description.txt"))
    assert_match(/bundle install/, s.read_response_file("error/solution_description.txt"))
    assert_match(/Bundler::GemNotFound/, s.read_response_file("error/advanced_problem_details"))
    assert_match(/ferry-gem-that-does-not-exist/, s.output)
  end

  def test_gemfile_without_rack_is_explained
    dir = make_app("Gemfile" => "source \"https://rubygems.org\"\ngem \"mustermann\"\n")
    s = spawn_loader(dir)
    s.start
    refute s.wait_finish
    refute s.wait_exit(30).success?
    assert_equal "STEP_ERRORED", s.step_state("subprocess_app_load_or_exec")
    assert_match(/cannot load such file -- rack \(LoadError\)\z/, s.read_response_file("error/summary"))
    assert_match(/Gemfile does not include rack/, s.read_response_file("error/problem_description.txt"))
    assert_match(/gem "rack"/, s.read_response_file("error/solution_description.txt"))
    assert_match(/mustermann/, s.annotation("activated_gems"))
  end

  def test_error_in_setup_load_paths_is_reported
    dir = make_app("config/setup_load_paths.rb" => "raise ArgumentError, 'ferry-setup-boom'\n")
    s = spawn_loader(dir)
    s.start
    refute s.wait_finish
    refute s.wait_exit(10).success?
    assert_equal "STEP_ERRORED", s.step_state("subprocess_wrapper_preparation")
    assert_equal "The application encountered the following error: ferry-setup-boom (ArgumentError)",
                 s.read_response_file("error/summary")
    assert_match(%r{config/setup_load_paths\.rb}, s.read_response_file("error/problem_description.txt"))
  end
end
