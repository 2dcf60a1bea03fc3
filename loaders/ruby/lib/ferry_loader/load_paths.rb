# frozen_string_literal: true
#
# Sets up the app's load paths before its config.ru is loaded, with Passenger's precedence:
#
#   1. the `load_path_setup_file` argument, if given;
#   2. else `config/setup_load_paths.rb`, if present (it replaces everything below);
#   3. else `.bundle/environment.rb`, if present;
#   4. else, when the app has a `Gemfile` (or `gems.rb`): `require 'bundler'; Bundler.setup`.
#
# A failure is raised as LoadPathError, which carries problem and solution texts for the spawn
# error report (the typical case: a gem of the Gemfile that is not installed).

module FerryLoader
  class LoadPathError < StandardError
    attr_reader :original, :problem, :solution

    def initialize(message, original:, problem:, solution:)
      super(message)
      @original = original
      @problem = problem
      @solution = solution
      set_backtrace(original.backtrace || [])
    end
  end

  module LoadPaths
    module_function

    # Returns a short description of what was done (for debug logging).
    def setup(app_root, args)
      if (file = args["load_path_setup_file"]) && !file.to_s.empty?
        guarded(app_root, file) { require File.expand_path(file, app_root) }
        return "load_path_setup_file #{file}"
      end
      setup_file = File.join(app_root, "config", "setup_load_paths.rb")
      if File.exist?(setup_file)
        guarded(app_root, setup_file) { require setup_file }
        return "config/setup_load_paths.rb"
      end
      bundle_env = File.join(app_root, ".bundle", "environment.rb")
      if File.exist?(bundle_env)
        guarded(app_root, bundle_env) { require bundle_env }
        return ".bundle/environment.rb"
      end
      gemfile = %w[Gemfile gems.rb].map { |n| File.join(app_root, n) }.find { |f| File.exist?(f) }
      if gemfile || (ENV["BUNDLE_GEMFILE"] && !ENV["BUNDLE_GEMFILE"].empty?)
        bundler_setup(app_root, gemfile)
        return "Bundler.setup"
      end
      "no load path setup"
    end

    def guarded(app_root, file)
      yield
    rescue LoadError, StandardError, ScriptError => e
      raise LoadPathError.new(
        "#{e.message} (#{e.class})",
        original: e,
        problem: "The application's load path set-up file #{file} raised an error while " \
                 "Ferry was loading it: #{e.message} (#{e.class}).",
        solution: "Fix the error in #{file}, then restart the application (for example by " \
                  "touching #{File.join(app_root, 'tmp', 'restart.txt')})."
      )
    end

    def bundler_setup(app_root, gemfile)
      ENV["BUNDLE_GEMFILE"] ||= gemfile if gemfile
      require "bundler"
      Bundler.setup
    rescue LoadError, StandardError, ScriptError => e
      bundler_error = defined?(::Bundler::BundlerError) && e.is_a?(::Bundler::BundlerError)
      not_found = defined?(::Bundler::GemNotFound) && e.is_a?(::Bundler::GemNotFound)
      gemfile_name = File.basename(ENV["BUNDLE_GEMFILE"] || gemfile || "Gemfile")
      problem =
        if not_found
          "The application uses Bundler, and its #{gemfile_name} lists gems that are not " \
            "installed where this Ruby (#{RUBY_DESCRIPTION}) can find them: #{e.message}"
        elsif bundler_error
          "Bundler could not set up the gems of the application's #{gemfile_name}: #{e.message} (#{e.class})"
        else
          "Ferry could not load Bundler to set up the gems of the application's " \
            "#{gemfile_name}: #{e.message} (#{e.class})"
        end
      solution =
        if bundler_error
          "Run `bundle install` in #{app_root} as the user that runs the application, so " \
            "that every gem of #{gemfile_name} (and #{gemfile_name}.lock) is installed for " \
            "#{RbConfig.ruby}. If the gems are installed in a custom location, make sure the " \
            "application's environment sets GEM_HOME / GEM_PATH / BUNDLE_PATH accordingly. " \
            "Then restart the application."
        else
          "Install Bundler for #{RbConfig.ruby} (`gem install bundler`), or remove " \
            "#{gemfile_name} if the application does not use Bundler. Then restart the application."
        end
      raise LoadPathError.new("#{e.message} (#{e.class})", original: e, problem: problem, solution: solution)
    end
  end
end
