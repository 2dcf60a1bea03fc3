# frozen_string_literal: true
#
# The loader's start-up sequence (loaders/PROTOCOL.md §1), step by step:
#
#   subprocess_exec_wrapper         the interpreter is running this code
#   subprocess_wrapper_preparation  arguments, process title, load paths (Bundler)
#   subprocess_app_load_or_exec     require rack, load config.ru, fire :starting_worker_process
#   subprocess_listen               open the socket, start the worker threads
#
# then properties.json and `finish`, and the serving life until stdin's end of file. A failure
# before `finish` is written to response/error/ and ends the process with status 1.
#
# With `preloader: true` (smart spawning, PROTOCOL.md §6) the app is loaded without the event, and
# Preloader (preloader.rb) serves spawn commands instead; in each worker it forks, Preloader#run
# returns, and the worker goes on here: subprocess_prepare_after_forking_from_preloader (its own
# arguments, title, srand, :starting_worker_process with forked = true), then subprocess_listen
# and `finish` in the worker's own work directory.
#
# Re-forking (PROTOCOL.md §6.4): a worker sent PROMOTE stops serving (Server#stop_for_promotion),
# fires :promoted_to_template and becomes a preloader in place (Preloader#promote), answering on
# the PROMOTE connection; in each worker it forks, the loop below goes on as after a fork from
# the cold preloader.

require_relative "work_dir"
require_relative "load_paths"

module FerryLoader
  class Loader
    EXEC, PREPARATION, APP_LOAD, LISTEN = WorkDir::STEPS

    def initialize(started)
      @started = started
      @args = {}
    end

    def run
      path = ENV["PASSENGER_SPAWN_WORK_DIR"].to_s
      if path.empty?
        abort "[ferry rack-loader] PASSENGER_SPAWN_WORK_DIR is not set: this program is started by Ferry."
      end
      $stdout.sync = true
      $stderr.sync = true
      @work_dir = WorkDir.new(path)
      @work_dir.begin_step(EXEC, @started)
      @work_dir.finish_step(EXEC)

      app, rack3 = guarded { prepare_and_load }
      if preloader?
        require_relative "preloader"
        # Returns only in a worker it forked, whose own work directory is now @work_dir.
        Preloader.new(self, @work_dir, @args).run
        guarded { after_fork }
      else
        guarded do
          PhusionPassenger.call_event(:starting_worker_process, false)
          @work_dir.finish_step(APP_LOAD)
        end
      end
      loop do
        server, properties = guarded { listen(app, rack3) }
        # From here on, failures are no longer start errors: a worker thread may already be
        # serving (and may pass an app's `exit` to this thread) as soon as `finish` is written.
        promotion = serve(server) { @work_dir.report_success(properties) }
        require_relative "preloader"
        # Returns only in a worker the template forked, whose own work directory is @work_dir.
        Preloader.new(self, nil, @args).promote(promotion)
        guarded { after_fork }
      end
    end

    # Whether this process is a preloader (smart spawning, `preloader: true` in the arguments).
    def preloader?
      value = @args["preloader"]
      value == true || value.to_s == "true"
    end

    # Set by the preloader in a worker it just forked: the worker's own work directory, whose
    # SUBPROCESS_PREPARE_AFTER_FORKING_FROM_PRELOADER step is in progress.
    attr_writer :work_dir

    private

    # Runs a start-up phase; a failure is reported through the work directory and ends the
    # process with status 1.
    def guarded
      yield
    rescue Exception => e # rubocop:disable Lint/RescueException
      report_start_error(e)
      exit!(1)
    end

    def prepare_and_load
      @work_dir.begin_step(PREPARATION)
      @args = @work_dir.read_args
      app_root = @args["app_root"].to_s
      app_root = Dir.pwd if app_root.empty?
      Dir.chdir(app_root) unless File.expand_path(Dir.pwd) == File.expand_path(app_root)
      @app_root = app_root
      set_title
      done = LoadPaths.setup(app_root, @args)
      debug "load paths: #{done}"
      @work_dir.finish_step(PREPARATION)

      @work_dir.begin_step(APP_LOAD)
      load_app
    end

    def set_title
      title = @args["process_title"].to_s
      title = "Ferry RubyApp" if title.empty?
      $0 = "#{title}: #{@args['app_group_name'] || @app_root}"
    end

    # In a worker the preloader forked, with stdin and output already on the work directory's
    # FIFOs: its own arguments, title, a new random seed (the preloader's would repeat in every
    # worker) and the event, with forked = true.
    def after_fork
      @args = @work_dir.read_args
      set_title
      srand
      PhusionPassenger.call_event(:starting_worker_process, true)
      @work_dir.finish_step(WorkDir::AFTER_FORK)
    end

    def listen(app, rack3)
      @work_dir.begin_step(LISTEN)
      require_relative "server"
      threaded = @args["concurrency_model"].to_s == "thread"
      threads = threaded ? [@args["thread_count"].to_i, 1].max : 1
      server = Server.new(app: app, password: presence(@args["connect_password"]),
                          keepalive: @args["keepalive"] != false && @args["keepalive"].to_s != "false",
                          thread_count: threads, rack3: rack3)
      socket = server.listen(socket_dir)
      concurrency = PhusionPassenger.advertised_concurrency_level || threads
      server.install_signal_handlers
      PhusionPassenger.call_event(:after_installing_signal_handlers)
      server.start_workers
      @work_dir.finish_step(LISTEN)
      debug "listening on #{socket} (#{threads} thread#{threads == 1 ? '' : 's'}, Rack #{::Rack.release})"
      properties = {
        "sockets" => [{ "name" => "main", "address" => "unix:#{socket}", "protocol" => "session",
                        "concurrency" => concurrency, "accept_http_requests" => true }]
      }
      [server, properties]
    rescue Exception # rubocop:disable Lint/RescueException
      server&.remove_socket
      raise
    end

    public

    def socket_dir
      presence(@args["socket_dir"]) || presence(ENV["TMPDIR"]) || "/tmp"
    end

    def log(message)
      debug(message)
    end

    private

    # Requires rack and evaluates config.ru. Returns [app, rack3?].
    def load_app
      startup_file = presence(@args["startup_file"]) || File.join(@app_root, "config.ru")
      startup_file = File.expand_path(startup_file, @app_root)
      require_rack
      result = ::Rack::Builder.parse_file(startup_file)
      # Rack 2 returns [app, options], Rack 3 the app alone.
      app = result.is_a?(Array) ? result[0] : result
      raise TypeError, "#{startup_file} did not produce a Rack application (got #{app.inspect})" unless app.respond_to?(:call)
      [app, ::Rack.release.to_i >= 3]
    end

    def require_rack
      require "rack"
      require "rack/builder"
      require "uri" # Rack 2's Lint and some middleware use URI without requiring it
    rescue LoadError => e
      raise e unless e.path == "rack" || e.path == "rack/builder"
      bundled = defined?(::Bundler) && ENV["BUNDLE_GEMFILE"]
      raise LoadPathError.new(
        "#{e.message} (#{e.class})",
        original: e,
        problem: "Ferry could not load the 'rack' gem, which every Ruby web application needs: " \
                 "#{e.message}.#{bundled ? ' The application uses Bundler, and its Gemfile does not include rack.' : ''}",
        solution: bundled ? "Add `gem \"rack\"` to the application's Gemfile, run `bundle install`, and restart the application." : "Install rack for #{RbConfig.ruby} (`gem install rack`), then restart the application."
      )
    end

    # Serves until stdin ends (the process exits) or a PROMOTE request comes: returns its
    # connection once the server has stopped.
    def serve(server)
      yield
      promotion = server.wait_for_stdin_eof
      if promotion
        server.stop_for_promotion
        return promotion
      end
      server.shutdown
      exit 0
    rescue SystemExit
      server.remove_socket
      raise
    rescue SignalException => e
      server.remove_socket
      raise e
    rescue Exception => e # rubocop:disable Lint/RescueException
      begin
        PhusionPassenger.call_event(:unhandled_exception_before_exit, e)
      rescue Exception # rubocop:disable Lint/RescueException
        nil
      end
      warn "[ferry rack-loader] unhandled exception, exiting: #{e.message} (#{e.class})\n    " +
           (e.backtrace || []).join("\n    ")
      server.remove_socket
      exit! 1
    end

    def report_start_error(error)
      original = error.is_a?(LoadPathError) ? error.original : error
      category = case original
                 when IOError then "IO_ERROR"
                 when SystemCallError then "OPERATING_SYSTEM_ERROR"
                 else "INTERNAL_ERROR"
                 end
      message = original.message.to_s
      message = message.lines.first.to_s.chomp if message.lines.size > 1 && !original.is_a?(SyntaxError)
      details = +"#{original.class}: #{original.message}\n"
      (original.backtrace || []).each { |line| details << "    from " << line << "\n" }
      @work_dir.fail_step
      report = {
        category: category,
        summary: "The application encountered the following error: #{message.tr("\n", ' ')} (#{original.class})",
        advanced: details
      }
      if error.is_a?(LoadPathError)
        report[:problem_text] = error.problem
        report[:solution_text] = error.solution
      end
      @work_dir.report_error(report)
      annotate_environment
      $stderr.write("[ferry rack-loader] The application could not be started: #{details}")
    rescue Exception => e # rubocop:disable Lint/RescueException
      $stderr.write("[ferry rack-loader] #{error.class}: #{error.message} (and reporting it failed: #{e.message})\n")
    end

    def annotate_environment
      info = +"RUBY_DESCRIPTION = #{RUBY_DESCRIPTION}\n"
      info << "RbConfig.ruby = #{RbConfig.ruby}\n" if defined?(RbConfig)
      info << "Gem.path = #{Gem.path.inspect}\n" if defined?(Gem)
      info << "GEM_HOME = #{ENV['GEM_HOME'].inspect}\nGEM_PATH = #{ENV['GEM_PATH'].inspect}\n"
      info << "BUNDLE_GEMFILE = #{ENV['BUNDLE_GEMFILE'].inspect}\n"
      info << "Rack = #{::Rack.release}\n" if defined?(::Rack.release)
      info << "Bundler = #{::Bundler::VERSION}\n" if defined?(::Bundler::VERSION)
      @work_dir.annotate("ruby_info", info)
      @work_dir.annotate("load_path", $LOAD_PATH.join("\n") + "\n")
      if defined?(Gem) && Gem.respond_to?(:loaded_specs)
        gems = Gem.loaded_specs.values.map { |spec| "#{spec.name} #{spec.version}" }.sort
        @work_dir.annotate("activated_gems", gems.join("\n") + "\n")
      end
    rescue StandardError
      nil
    end

    def presence(value)
      value.nil? || value.to_s.empty? ? nil : value.to_s
    end

    def debug(message)
      $stderr.puts("[ferry rack-loader] #{message}") if @args["log_level"].to_i >= 5
    end
  end
end
