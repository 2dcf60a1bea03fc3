# frozen_string_literal: true

# Loaded on first use (eager_load is off), like the rest of app/.
class PagesController < ActionController::Base
  # An in-process cache filled on first use (a catalogue, a settings table...).
  CACHE_SIZE = Integer(ENV.fetch("LAZY_ENTRIES", "60000"))

  def self.cache
    @cache ||= Array.new(CACHE_SIZE) { |i| { id: i, name: "item-#{i}-" * 4, tags: %w[a b c].map { |t| "#{t}#{i}" } }.freeze }.freeze
  end

  def index
    # Libraries required on first use.
    require "csv"
    require "rexml/document"
    require "net/http"
    require "bigdecimal/util"
    @items = self.class.cache.first(20)
    @total = self.class.cache.size
    @greeting = I18n.t("date.month_names").compact.join(" ")
  end

  def pid
    render plain: "#{Process.pid} #{Process.ppid}"
  end
end
