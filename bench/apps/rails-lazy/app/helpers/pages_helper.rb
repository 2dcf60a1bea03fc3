# frozen_string_literal: true

module PagesHelper
  def item_line(item)
    "#{item[:name]} (#{item[:tags].join(', ')})"
  end
end
