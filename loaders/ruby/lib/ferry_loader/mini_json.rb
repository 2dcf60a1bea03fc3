# frozen_string_literal: true
#
# A small JSON reader and writer for the loader's own files (args.json, properties.json).
#
# The loader runs before the app's Bundler setup. Requiring the `json` default gem at that point
# would activate a json version that may conflict with the one in the app's Gemfile.lock, so the
# handshake uses this self-contained code instead, which needs nothing but core Ruby.

module FerryLoader
  module MiniJSON
    class ParseError < StandardError; end

    module_function

    # Parses a JSON document into Hash / Array / String / Integer / Float / true / false / nil.
    def parse(text)
      text = text.dup.force_encoding(Encoding::UTF_8)
      value, pos = parse_value(text, skip_space(text, 0))
      pos = skip_space(text, pos)
      raise ParseError, "trailing characters at offset #{pos}" if pos < text.size
      value
    end

    # Serialises Hash / Array / String / Symbol / Numeric / true / false / nil.
    def generate(value)
      case value
      when Hash
        "{" + value.map { |k, v| "#{quote(k.to_s)}:#{generate(v)}" }.join(",") + "}"
      when Array
        "[" + value.map { |v| generate(v) }.join(",") + "]"
      when String, Symbol
        quote(value.to_s)
      when Integer, Float
        value.to_s
      when true then "true"
      when false then "false"
      when nil then "null"
      else quote(value.to_s)
      end
    end

    ESCAPES = { '"' => '\\"', "\\" => "\\\\", "\b" => '\\b', "\f" => '\\f',
                "\n" => '\\n', "\r" => '\\r', "\t" => '\\t' }.freeze

    def quote(str)
      str = str.dup.force_encoding(Encoding::UTF_8)
      str = str.scrub unless str.valid_encoding?
      '"' + str.gsub(/["\\\x00-\x1f]/) { |c| ESCAPES[c] || format("\\u%04x", c.ord) } + '"'
    end

    def skip_space(text, pos)
      pos += 1 while pos < text.size && " \t\r\n".include?(text[pos])
      pos
    end

    def parse_value(text, pos)
      case text[pos]
      when "{" then parse_object(text, pos + 1)
      when "[" then parse_array(text, pos + 1)
      when '"' then parse_string(text, pos + 1)
      when "t" then literal(text, pos, "true", true)
      when "f" then literal(text, pos, "false", false)
      when "n" then literal(text, pos, "null", nil)
      else parse_number(text, pos)
      end
    end

    def literal(text, pos, word, value)
      raise ParseError, "unexpected token at offset #{pos}" unless text[pos, word.size] == word
      [value, pos + word.size]
    end

    def parse_object(text, pos)
      result = {}
      pos = skip_space(text, pos)
      return [result, pos + 1] if text[pos] == "}"
      loop do
        raise ParseError, "expected a key at offset #{pos}" unless text[pos] == '"'
        key, pos = parse_string(text, pos + 1)
        pos = skip_space(text, pos)
        raise ParseError, "expected ':' at offset #{pos}" unless text[pos] == ":"
        value, pos = parse_value(text, skip_space(text, pos + 1))
        result[key] = value
        pos = skip_space(text, pos)
        case text[pos]
        when "," then pos = skip_space(text, pos + 1)
        when "}" then return [result, pos + 1]
        else raise ParseError, "expected ',' or '}' at offset #{pos}"
        end
      end
    end

    def parse_array(text, pos)
      result = []
      pos = skip_space(text, pos)
      return [result, pos + 1] if text[pos] == "]"
      loop do
        value, pos = parse_value(text, pos)
        result << value
        pos = skip_space(text, pos)
        case text[pos]
        when "," then pos = skip_space(text, pos + 1)
        when "]" then return [result, pos + 1]
        else raise ParseError, "expected ',' or ']' at offset #{pos}"
        end
      end
    end

    SIMPLE_ESCAPES = { '"' => '"', "\\" => "\\", "/" => "/", "b" => "\b", "f" => "\f",
                       "n" => "\n", "r" => "\r", "t" => "\t" }.freeze

    def parse_string(text, pos)
      out = +""
      loop do
        stop = text.index(/["\\]/, pos)
        raise ParseError, "unterminated string" unless stop
        out << text[pos...stop]
        if text[stop] == '"'
          return [out, stop + 1]
        end
        esc = text[stop + 1]
        if (simple = SIMPLE_ESCAPES[esc])
          out << simple
          pos = stop + 2
        elsif esc == "u"
          code = text[stop + 2, 4].to_i(16)
          pos = stop + 6
          if code.between?(0xD800, 0xDBFF) && text[pos, 2] == "\\u"
            low = text[pos + 2, 4].to_i(16)
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            pos += 6
          end
          out << code.chr(Encoding::UTF_8)
        else
          raise ParseError, "bad escape at offset #{stop}"
        end
      end
    end

    def parse_number(text, pos)
      m = /\A-?\d+(\.\d+)?([eE][-+]?\d+)?/.match(text[pos, 64])
      raise ParseError, "unexpected character at offset #{pos}" unless m
      str = m[0]
      [m[1] || m[2] ? Float(str) : Integer(str, 10), pos + str.size]
    end
  end
end
