# frozen_string_literal: true
#
# The loader's side of the SpawningKit work-directory handshake (loaders/PROTOCOL.md §1):
# reading the arguments, recording the four subprocess steps, writing properties.json and the
# `finish` byte on success, or the `response/error/` files and annotations on failure.
#
# Only core Ruby is used here: this runs before the app's load paths (Bundler) are set up.

require_relative "mini_json"

module FerryLoader
  class WorkDir
    STEPS = %w[
      subprocess_exec_wrapper
      subprocess_wrapper_preparation
      subprocess_app_load_or_exec
      subprocess_listen
    ].freeze
    # The step of a worker forked by a preloader, before it listens.
    AFTER_FORK = "subprocess_prepare_after_forking_from_preloader"
    # The preloader's steps, which it records in the work directory of the worker it forks.
    PRELOADER_STEPS = %w[preloader_preparation preloader_fork_subprocess preloader_send_response preloader_finish].freeze

    attr_reader :path, :current_step

    def initialize(path)
      @path = path
      @current_step = nil
    end

    def self.now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    # The arguments: args.json, or the args/ files when args.json is absent or unreadable.
    def read_args
      json = File.join(@path, "args.json")
      if File.exist?(json)
        begin
          return MiniJSON.parse(File.read(json))
        rescue MiniJSON::ParseError, SystemCallError
          # fall through to the per-key files
        end
      end
      read_args_dir
    end

    def read_args_dir
      args = {}
      dir = File.join(@path, "args")
      return args unless File.directory?(dir)
      Dir.children(dir).each do |name|
        file = File.join(dir, name)
        next unless File.file?(file)
        text = File.read(file)
        if name.end_with?(".json")
          args[name.delete_suffix(".json")] = (MiniJSON.parse(text) rescue text)
        else
          args[name] = case text
                       when "true" then true
                       when "false" then false
                       when /\A-?\d+\z/ then text.to_i
                       else text
                       end
        end
      end
      args
    end

    # Marks a step as begun (STEP_IN_PROGRESS).
    def begin_step(step, time = WorkDir.now)
      @current_step = step
      write_step(step, "begin_time_monotonic" => time, "state" => "STEP_IN_PROGRESS")
    end

    # Marks a step as performed.
    def finish_step(step, time = WorkDir.now)
      write_step(step, "end_time_monotonic" => time, "state" => "STEP_PERFORMED")
      @current_step = nil if @current_step == step
    end

    # Marks a step (the current one by default) as failed.
    def fail_step(step = @current_step, time = WorkDir.now)
      return unless step
      write_step(step, "end_time_monotonic" => time, "state" => "STEP_ERRORED")
    end

    # Writes properties.json and then the `1` into the finish FIFO.
    def report_success(properties)
      write_file(File.join("response", "properties.json"), MiniJSON.generate(properties))
      File.open(File.join(@path, "response", "finish"), "w") { |f| f.write("1") }
    end

    # Writes the response/error/ files. `details` keys: :category, :summary, :problem_html,
    # :problem_text, :solution_html, :solution_text, :advanced.
    def report_error(details)
      dir = File.join("response", "error")
      write_file(File.join(dir, "category"), details[:category] || "INTERNAL_ERROR")
      write_file(File.join(dir, "summary"), details[:summary].to_s)
      { problem_html: "problem_description.html", problem_text: "problem_description.txt",
        solution_html: "solution_description.html", solution_text: "solution_description.txt",
        advanced: "advanced_problem_details" }.each do |key, name|
        write_file(File.join(dir, name), details[key]) if details[key]
      end
    end

    # Writes envdump/annotations/<name>.
    def annotate(name, text)
      write_file(File.join("envdump", "annotations", name), text)
    end

    private

    def write_step(step, files)
      dir = File.join("response", "steps", step)
      files.each do |name, value|
        value = format("%.6f", value) if value.is_a?(Float)
        write_file(File.join(dir, name), value.to_s)
      end
    end

    def write_file(relative, content)
      full = File.join(@path, relative)
      dir = File.dirname(full)
      Dir.mkdir(dir, 0o700) unless File.directory?(dir)
      File.binwrite(full, content)
    rescue SystemCallError => e
      $stderr.puts "[ferry rack-loader] cannot write #{full}: #{e.message}"
    end
  end
end
