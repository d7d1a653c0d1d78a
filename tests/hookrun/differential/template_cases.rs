//! The template cases of the differential suite (`templates`): what each must render, or fail
//! with, is whatever the reference does. A rendering case's output must not contain `'` or a
//! line break (it is served from a single-quoted YAML scalar): such cases print through
//! `printf "%q"` or `urlquery`.

/// (name, template) rendered to text by both servers.
pub const RENDER_CASES: &[(&str, &str)] = &[
    ("int %d", r#"{{ printf "%d" 42 }}"#),
    ("int width", r#"{{ printf "[%5d][%-5d]" 42 42 }}"#),
    ("int zero pad", r#"{{ printf "%05d %05d" 42 -42 }}"#),
    (
        "int plus and space",
        r#"{{ printf "%+d|% d|%+05d|% 05d" 42 42 42 -42 }}"#,
    ),
    (
        "int precision",
        r#"{{ printf "%.3d|%8.3d|%-8.3d|" 7 -7 7 }}"#,
    ),
    (
        "int zero precision",
        r#"{{ printf "[%.0d][%5.0d][%.d]" 0 0 0 }}"#,
    ),
    ("int precision cancels zero", r#"{{ printf "%08.3d" 7 }}"#),
    (
        "int hex",
        r#"{{ printf "%x %X %#x %#X %x" 255 255 255 255 -255 }}"#,
    ),
    (
        "int hex width",
        r#"{{ printf "%08.3x|%#08x|%-#8x|" 255 255 255 }}"#,
    ),
    ("int octal", r#"{{ printf "%o %#o %O %#O" 8 8 8 0 }}"#),
    ("int binary", r#"{{ printf "%b %#b %08b" 5 5 5 }}"#),
    (
        "int char",
        r#"{{ printf "%c%c%c|%3c|%-3c|" 72 105 0x1F600 65 66 }}"#,
    ),
    (
        "int char invalid",
        r#"{{ printf "%c %c" -1 0x110000 | printf "%q" }}"#,
    ),
    (
        "int unicode",
        r#"{{ printf "%U %#U %U %.6U %10U|" 0x1F600 65 -1 65 65 | urlquery }}"#,
    ),
    (
        "int quoted char",
        r#"{{ printf "%q %+q %q %q" 65 233 10 0xD800 | urlquery }}"#,
    ),
    (
        "int %v forms",
        r#"{{ printf "%v %+v %#v %10v|%-4v|" -3 3 3 3 3 }}"#,
    ),
    ("int bad verbs", r#"{{ printf "%s|%t|%e|%5s" 42 1 1 7 }}"#),
    ("int type", r#"{{ printf "%T %T" 1 -0 }}"#),
    (
        "char constants are ints",
        r#"{{ printf "%T %d %c" 'a' 'b' 'c' }}"#,
    ),
    (
        "byte from index",
        r#"{{ printf "%v %d %c %T %#v %x %q" (index "abc" 1) (index "abc" 1) (index "abc" 1) (index "abc" 1) (index "abc" 1) (index "abc" 1) (index "abc" 1) | urlquery }}"#,
    ),
    ("byte bad verb", r#"{{ printf "%s" (index "abc" 0) }}"#),
    ("string %s", r#"{{ printf "%s" "hi" }}"#),
    (
        "string width",
        r#"{{ printf "[%5s][%-5s][%05s][%-05s]" "hi" "hi" "hi" "hi" }}"#,
    ),
    (
        "string precision",
        r#"{{ printf "[%.1s][%5.2s][%.0s][%.9s]" "héllo" "héllo" "x" "ab" }}"#,
    ),
    (
        "string width counts runes",
        r#"{{ printf "[%6s][%-6s]" "héllo" "日本" }}"#,
    ),
    ("string quoted", r#"{{ printf "%q" "a\"b\\c\td" }}"#),
    (
        "string quoted ascii",
        r#"{{ printf "%+q %q" "é日😀" "é日😀" }}"#,
    ),
    (
        "string backquoted",
        r#"{{ printf "%#q %#q %#q" "back" "a`b" "tab\there" }}"#,
    ),
    (
        "string quoted controls",
        r#"{{ printf "%q" "\a\b\f\n\r\v\x00\x7f\u00a0\u2028" }}"#,
    ),
    (
        "string hex",
        r#"{{ printf "%x %X % x %#x %# X" "hi" "hi" "hi" "hi" "hi" }}"#,
    ),
    (
        "string hex precision and width",
        r#"{{ printf "[%.1x][%8x][%-8x][%08x]" "hi" "hi" "hi" "hi" }}"#,
    ),
    (
        "string hex empty",
        r#"{{ printf "[%x][%5x][%#x]" "" "" "" }}"#,
    ),
    ("string hex utf8", r#"{{ printf "%x" "é" }}"#),
    (
        "string %v forms",
        r#"{{ printf "%v|%#v|%+v|%10v|" "s" "s" "s" "s" }}"#,
    ),
    (
        "string bad verbs",
        r#"{{ printf "%d|%t|%c|%e|%5d|%-5d|" "s" "s" "s" "s" "s" "s" }}"#,
    ),
    ("string type", r#"{{ printf "%T %T" "" `raw` }}"#),
    (
        "bool verbs",
        r#"{{ printf "%t %v %6t|%-6t|%06t" true false true false true }}"#,
    ),
    (
        "bool bad verbs",
        r#"{{ printf "%d %s %q %x" true false true false }}"#,
    ),
    ("bool sharp v", r#"{{ printf "%#v %T" true false }}"#),
    (
        "float %v",
        r#"{{ printf "%v %v %v %v" 1.5 1e6 1e21 1e20 }}"#,
    ),
    (
        "float %v small",
        r#"{{ printf "%v %v %v %v" 0.0001 0.00001 1e-7 123456.789 }}"#,
    ),
    (
        "float %f",
        r#"{{ printf "%f %.2f %.0f %.1f" 3.14159 3.14159 3.14159 3.14159 }}"#,
    ),
    (
        "float %f width",
        r#"{{ printf "[%8.3f][%-8.2f][%08.2f][%+08.2f]" 3.14159 3.14159 -3.14159 3.14159 }}"#,
    ),
    (
        "float sign flags",
        r#"{{ printf "%+.1f|% .1f|% .1f|%+.1f" 2.5 2.5 -2.5 -2.5 }}"#,
    ),
    (
        "float rounding ties",
        r#"{{ printf "%.0f %.0f %.0f %.1f %.2f %.1f" 0.5 1.5 2.5 0.25 0.125 0.35 }}"#,
    ),
    (
        "float %e",
        r#"{{ printf "%e %.2e %E %.0e %e" 123456.789 123456.789 0.000123 5.0 0.0 }}"#,
    ),
    (
        "float %e big exponent",
        r#"{{ printf "%e %.3E" 1e300 1e-300 }}"#,
    ),
    (
        "float %g",
        r#"{{ printf "%g %.3g %G %g %g %.10g" 123456789.0 123456789.0 1e-7 100000.0 1e6 3.14159 }}"#,
    ),
    (
        "float %g precision",
        r#"{{ printf "%.1g %.2g %.3g %.4g %.0g" 1.25 1.25 1.25 1.25 1.25 }}"#,
    ),
    (
        "float %x",
        r#"{{ printf "%x %X %.2x %x %x %#x" 1.5 1.5 3.14159 1.0 0.1 1.0 }}"#,
    ),
    ("float %b", r#"{{ printf "%b %b" 1.0 0.1 }}"#),
    (
        "float sharp",
        r#"{{ printf "%#g %#.3g %#e %#.0f %#.0e %#g" 1.0 1.0 1.0 3.0 3.0 123456789.0 }}"#,
    ),
    (
        "float %v forms",
        r#"{{ printf "%#v %+v %#v %v" 1.0 1.5 1e21 -0.0 }}"#,
    ),
    (
        "float %v precision",
        r#"{{ printf "%.3v|%10.4v|%-10v|%010v" 3.14159 3.14159 2.5 -2.5 }}"#,
    ),
    ("float %F", r#"{{ printf "%F %.1F" 1.5 2.25 }}"#),
    (
        "float bad verbs",
        r#"{{ printf "%d|%s|%c|%q|%t" 1.5 1.5 1.5 1.5 1.5 }}"#,
    ),
    ("float type", r#"{{ printf "%T %T %T" 1.5 1e3 0x1p-2 }}"#),
    (
        "float width and zero",
        r#"{{ printf "[%5.1f][%-5.1f][%05.1f][%05.1f]" 1.25 1.35 -1.5 1.5 }}"#,
    ),
    ("complex %v", r#"{{ printf "%v %v %v" 1i 1+2i 1e3-2.5i }}"#),
    (
        "complex verbs",
        r#"{{ printf "%.1f %e %g %.2E" 1+2i 1i -1-1i 1.5+0.5i }}"#,
    ),
    (
        "complex width",
        r#"{{ printf "[%8.2f][%+.1f]" 1-2.5i 1+1i }}"#,
    ),
    (
        "complex bad verb and type",
        r#"{{ printf "%d %s %T" 1i 2i 3i }}"#,
    ),
    (
        "nil verbs",
        r#"{{ printf "%v|%d|%s|%T|%5v|%-5v|%x" nil nil nil nil nil nil nil }}"#,
    ),
    ("nil data", r#"{{ printf "%v %d %T" . . . }}"#),
    ("nil field", r#"{{ printf "%v %s" .Foo .Foo.Bar }}"#),
    ("missing argument", r#"{{ printf "%d %d %s" 1 }}"#),
    (
        "extra arguments",
        r#"{{ printf "%d" 1 2 "a" nil true 1.5 }}"#,
    ),
    ("extra arguments only", r#"{{ printf "x" 1 }}"#),
    (
        "no verb",
        r#"{{ printf "50%" }}|{{ printf "%-" }}|{{ printf "%5." }}"#,
    ),
    ("percent", r#"{{ printf "%%|%5%|%-5%|%.2%" }}"#),
    ("unknown verb", r#"{{ printf "%z %!|%é" 1 2 3 }}"#),
    ("argument index", r#"{{ printf "%[2]d %[1]d %d" 1 2 }}"#),
    (
        "argument index reused",
        r#"{{ printf "%[1]d%[1]d%[1]x" 7 }}"#,
    ),
    (
        "argument index bad",
        r#"{{ printf "%[3]d|%[0]d|%[x]d|%[1d|%[]d" 1 2 }}"#,
    ),
    ("argument index no extra", r#"{{ printf "%[2]d" 1 2 3 }}"#),
    (
        "star width",
        r#"{{ printf "[%*d][%-*d][%*d]" 5 42 5 42 -5 42 }}"#,
    ),
    (
        "star width bad",
        r#"{{ printf "[%*d][%*d]" "x" 42 1.5 42 }}"#,
    ),
    (
        "star precision",
        r#"{{ printf "[%.*f][%.*f][%.*s]" 2 3.14159 -1 3.14159 1 "abc" }}"#,
    ),
    ("star precision bad", r#"{{ printf "[%.*d]" "x" 1 }}"#),
    (
        "star with index",
        r#"{{ printf "[%[2]*[1]d][%[3]*.[2]*[1]f]" 12.0 2 6 }}"#,
    ),
    ("star missing", r#"{{ printf "[%*d]" }}"#),
    ("huge width", r#"{{ printf "%1000001d|" 1 | len }}"#),
    ("width past the limit", r#"{{ printf "%10000000000d|" 1 }}"#),
    (
        "flags order",
        r#"{{ printf "[%-05d][%0-5d][%+ d][% +d]" 1 1 1 1 }}"#,
    ),
    ("print spacing", r#"{{ print 1 2 "a" "b" 3 true nil }}"#),
    ("print nothing", r#"[{{ print }}]"#),
    ("print floats and complex", r#"{{ print 1.5 2i 1e21 }}"#),
    ("print nil data", r#"{{ print . nil "x" . }}"#),
    ("println", r#"{{ println "a" 1 2 "b" nil | printf "%q" }}"#),
    ("println nothing", r#"{{ println | printf "%q" }}"#),
    ("print byte", r#"{{ print (index "ab" 0) (index "ab" 1) }}"#),
    ("html", r#"{{ html "<a href=\"x\">&</a>" }}"#),
    (
        "html several",
        r#"{{ html 1 "<" 2 }}|{{ html . }}|{{ html nil 1.5 }}"#,
    ),
    ("js", r#"{{ js "a\"b<c>&=\\d" }}"#),
    (
        "js controls and unicode",
        r#"{{ js "\n\t\u2028é😀\u00a0" }}"#,
    ),
    (
        "js several",
        r#"{{ js 1 2 }}|{{ js . }}|{{ "x" | js "y" }}"#,
    ),
    ("urlquery", r#"{{ urlquery "a b&c/é?~*" }}"#),
    ("urlquery several", r#"{{ urlquery "x" 1 nil }}"#),
    ("escapers piped", r#"{{ "<b>" | html | printf "%s!" }}"#),
    (
        "eq",
        r#"{{ eq 1 1 }} {{ eq 1 2 }} {{ eq "a" "b" "a" }} {{ eq true true }}"#,
    ),
    ("ne", r#"{{ ne 1 2 }} {{ ne "a" "a" }} {{ ne 1.5 1.5 }}"#),
    (
        "ordering",
        r#"{{ lt 1 2 }} {{ le 2 2 }} {{ gt 3 2 }} {{ ge 1 2 }}"#,
    ),
    (
        "ordering strings",
        r#"{{ lt "a" "b" }} {{ lt "b" "a" }} {{ le "ab" "a" }} {{ gt "é" "z" }}"#,
    ),
    (
        "ordering floats",
        r#"{{ lt 1.5 2.5 }} {{ ge 2.5 2.5 }} {{ gt 1e3 999.9 }}"#,
    ),
    (
        "eq floats and complex",
        r#"{{ eq 1.0 1.0 }} {{ eq 1i 1i }} {{ eq 0i 0i }} {{ ne 1i 2i }}"#,
    ),
    (
        "byte and int compare",
        r#"{{ eq (index "a" 0) 97 }} {{ lt (index "a" 0) 98 }} {{ gt 96 (index "a" 0) }} {{ eq -1 (index "a" 0) }}"#,
    ),
    (
        "eq nil",
        r#"{{ eq . nil }} {{ eq nil nil }} {{ eq nil 1 }} {{ eq "" nil }} {{ ne . nil }}"#,
    ),
    (
        "and or",
        r#"{{ and 1 0 2 }} {{ and 1 2 }} {{ or "" 0 }} {{ or "" "b" }}"#,
    ),
    (
        "not",
        r#"{{ not "" }} {{ not 1 }} {{ not 0.0 }} {{ not 0i }} {{ not . }} {{ not nil }}"#,
    ),
    ("and or nil", r#"{{ or 0 . }}|{{ and 1 . }}|{{ or . "x" }}"#),
    (
        "and or piped",
        r#"{{ "x" | and true }} {{ 0 | or "" }} {{ 1 | and 0 }}"#,
    ),
    (
        "and or short circuit",
        r#"{{ and 0 (len 3) }} {{ or 1 (len 3) }}"#,
    ),
    ("and or floats", r#"{{ and 1.5 0.0 }} {{ or 0.0 2i }}"#),
    (
        "len",
        r#"{{ len "héllo" }} {{ len "" }} {{ len (print 1 2) }}"#,
    ),
    (
        "index",
        r#"{{ index "abc" 1 }} {{ index "abc" }} {{ index "abc" 0 | printf "%c" }}"#,
    ),
    ("index with byte", r#"{{ index "abc" (index "\x02" 0) }}"#),
    (
        "slice",
        r#"{{ slice "abcd" 1 3 }} {{ slice "abcd" 1 }} {{ slice "abcd" }} [{{ slice "abcd" 4 }}] {{ slice "abcd" 0 0 | len }}"#,
    ),
    ("variable", r#"{{ $x := 1 }}{{ $x }}"#),
    (
        "variable assign",
        r#"{{ $x := "a" }}{{ $x = "b" }}{{ $x }}"#,
    ),
    ("variable dollar", r#"{{ $ }}|{{ $.X }}|{{ $.X.Y }}"#),
    (
        "variable scope",
        r#"{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}"#,
    ),
    (
        "variable assign in block",
        r#"{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"#,
    ),
    (
        "variable with",
        r#"{{ with $x := "w" }}{{ $x }}{{ . }}{{ end }}"#,
    ),
    ("variable piped", r#"{{ $x := print 1 2 }}{{ $x | len }}"#),
    ("variable in parens", r#"{{ print ($x := 5) $x }}"#),
    (
        "variable redeclared",
        r#"{{ $x := 1 }}{{ $x := "two" }}{{ $x }}"#,
    ),
    (
        "variable if keeps",
        r#"{{ if $v := getenv "A" }}{{ $v }}{{ else }}no{{ end }}"#,
    ),
    (
        "variable else sees",
        r#"{{ if $v := getenv "EMPTY" }}yes{{ else }}[{{ $v }}]{{ end }}"#,
    ),
    (
        "pipeline last argument",
        r#"{{ "a" | printf "%s-%s" "b" }}"#,
    ),
    ("pipeline number", r#"{{ 3 | printf "%d-%d" 1 }}"#),
    ("pipeline chain", r#"{{ "x" | print "a" | len }}"#),
    (
        "pipeline parens",
        r#"{{ (print "a") | len }} {{ printf "%s" (printf "%d" 5) }} {{ ((1)) }}"#,
    ),
    ("pipeline trailing bar", r#"{{ print | len }}{{ "x" | }}"#),
    (
        "pipeline nested parens",
        r#"{{ print (len (print (len "abc") "x")) }}"#,
    ),
    (
        "if else",
        r#"{{ if 1 }}a{{ else }}b{{ end }}{{ if 0 }}a{{ else }}b{{ end }}"#,
    ),
    (
        "else if chain",
        r#"{{ if 0 }}a{{ else if "" }}b{{ else if 1.5 }}c{{ else }}d{{ end }}"#,
    ),
    (
        "else if last",
        r#"{{ if 0 }}a{{ else if 0 }}b{{ else }}c{{ end }}"#,
    ),
    (
        "if nil data",
        r#"{{ if . }}a{{ else }}b{{ end }}{{ if .X }}a{{ else }}b{{ end }}"#,
    ),
    (
        "if complex zero",
        r#"{{ if 0i }}a{{ else }}b{{ end }}{{ if 1i }}c{{ end }}"#,
    ),
    ("if and not", r#"{{ if and 1 (not 0) }}yes{{ end }}"#),
    (
        "if env",
        r#"{{ if getenv "EMPTY" }}x{{ else }}empty{{ end }}"#,
    ),
    (
        "if nested",
        r#"{{ if 1 }}{{ if 0 }}x{{ else }}{{ if "s" }}y{{ end }}{{ end }}{{ end }}"#,
    ),
    ("with", r#"{{ with "w" }}{{ . }}{{ end }}"#),
    (
        "with else",
        r#"{{ with "" }}x{{ else }}none{{ . }}{{ end }}"#,
    ),
    (
        "with float",
        r#"{{ with 1.5 }}{{ printf "%T" . }}{{ end }}"#,
    ),
    (
        "with variable",
        r#"{{ with $x := 2 }}{{ $x }}{{ . }}{{ end }}"#,
    ),
    (
        "with nested",
        r#"{{ with "a" }}{{ with "b" }}{{ . }}{{ $ }}{{ end }}{{ . }}{{ end }}"#,
    ),
    (
        "with pipeline",
        r#"{{ with getenv "A" }}{{ . | len }}{{ end }}"#,
    ),
    ("range nil", r#"{{ range . }}x{{ else }}empty{{ end }}"#),
    (
        "range nil variables",
        r#"{{ range $i, $e := . }}x{{ else }}e{{ end }}"#,
    ),
    ("range nil no else", r#"[{{ range .X }}x{{ end }}]"#),
    ("range break", r#"{{ range . }}{{ break }}{{ end }}ok"#),
    (
        "range continue",
        r#"{{ range . }}{{ continue }}{{ else }}e{{ end }}"#,
    ),
    (
        "range one variable",
        r#"{{ range $e := .Y }}{{ $e }}{{ else }}none{{ end }}"#,
    ),
    (
        "define and template",
        r#"{{ define "T2" }}t{{ . }}{{ end }}{{ template "T2" "x" }}"#,
    ),
    (
        "template without data",
        r#"{{ define "T3" }}[{{ . }}]{{ end }}{{ template "T3" }}"#,
    ),
    ("block", r#"{{ block "B4" "v" }}b{{ . }}{{ end }}"#),
    (
        "template calls template",
        r#"{{ define "A5" }}a{{ template "B5" . }}{{ end }}{{ define "B5" }}b{{ . }}{{ end }}{{ template "A5" 1 }}"#,
    ),
    (
        "template scope",
        r#"{{ $x := 1 }}{{ define "T6" }}{{ $ }}{{ end }}{{ template "T6" 2 }}"#,
    ),
    (
        "template empty redefinition",
        r#"{{ define "T7" }}{{ end }}{{ define "T7" }}y{{ end }}{{ template "T7" }}"#,
    ),
    (
        "template recursion",
        r#"{{ define "R8" }}{{ if . }}{{ template "R8" (slice . 1) }}{{ . }}{{ end }}{{ end }}{{ template "R8" "abc" }}"#,
    ),
    (
        "template pipeline",
        r#"{{ define "T9" }}{{ . }}{{ end }}{{ template "T9" print 1 2 | len }}"#,
    ),
    (
        "template in range else",
        r#"{{ define "T10" }}in{{ end }}{{ range . }}{{ else }}{{ template "T10" }}{{ end }}"#,
    ),
    ("define only", r#"[{{ define "T11" }}x{{ end }}]"#),
    (
        "block then template",
        r#"{{ block "B12" 1 }}<{{ . }}>{{ end }}{{ template "B12" 2 }}"#,
    ),
    ("comment", r#"a {{/* c */}} b"#),
    ("comment trimmed", r#"a {{- /* c */ -}} b"#),
    ("trim both", r#"a  {{- 1 -}}  b"#),
    ("trim left only", r#"a  {{- 1 }}  b"#),
    ("trim right only", r#"a  {{ 1 -}}  b"#),
    ("trim versus negative number", r#"a {{-3}} {{3 -}} b"#),
    ("trim tabs", r#"a	{{- 1 -}}	b"#),
    ("comment multiline", r#"x{{/* one two */}}y"#),
    (
        "string escapes",
        r#"{{ printf "%q" "a\tb\x41\101\u00e9\U0001F600" }}"#,
    ),
    ("raw string", r#"{{ `raw\n"q"` }}"#),
    (
        "char constants",
        r#"{{ 97 }} {{ printf "%d %d %d %d %d" (index "a" 0) 10 233 0x41 0 }}"#,
    ),
    (
        "char literal forms",
        r#"{{ 'a' }} {{ '\n' }} {{ '\x41' }} {{ '\u00e9' }} {{ '\'' }} {{ printf "%T" 'a' }}"#,
    ),
    (
        "integer forms",
        r#"{{ 0x1F }} {{ 0X1f }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }} {{ -0x10 }} {{ +7 }} {{ 0x_1F }}"#,
    ),
    ("hex int with E", r#"{{ 0x1E3 }} {{ printf "%T" 0x1E3 }}"#),
    (
        "negative hex with E",
        r#"{{ -0x1E }} {{ printf "%T" -0x1E }}"#,
    ),
    (
        "float forms",
        r#"{{ 1.0 }} {{ 1e3 }} {{ 1E-3 }} {{ 0x1p4 }} {{ 0X1.8P1 }} {{ .5 }} {{ 1_0.5 }} {{ 5. }}"#,
    ),
    ("float negative zero", r#"{{ -0.0 }} {{ 0.0 }} {{ -0e0 }}"#),
    (
        "imaginary",
        r#"{{ 1i }} {{ 0i }} {{ 2.5i }} {{ 0x1p1i }} {{ 1_0i }}"#,
    ),
    (
        "complex constants",
        r#"{{ 1+2i }} {{ 1e3-2i }} {{ -1-1i }} {{ 0.5+0i }}"#,
    ),
    (
        "int limits",
        r#"{{ 9223372036854775807 }} {{ -9223372036854775808 }}"#,
    ),
    (
        "booleans",
        r#"{{ true }} {{ false }} {{ printf "%T" true }}"#,
    ),
    (
        "getenv",
        r#"{{ getenv "A" }}|{{ getenv "UNSET_X" }}|{{ getenv "A" | len }}"#,
    ),
    (
        "getenv quoted",
        r#"{{ getenv "QUOTED" | printf "%q" }}|{{ getenv "QUOTED" | html }}"#,
    ),
    (
        "nil data prints",
        r#"{{ . }} {{ .Foo }} {{ .Foo.Bar }} {{ $.X }} {{ .Foo 1 }}"#,
    ),
    (
        "field on parenthesized nil",
        r#"{{ (.X).Y }}|{{ print (.X).Y }}"#,
    ),
    (
        "float denormal and extremes",
        r#"{{ 5e-324 }} {{ 1.7976931348623157e308 }} {{ 1e-320 }} {{ 1e100 }}"#,
    ),
    (
        "float plain forms",
        r#"{{ 1e-7 }} {{ 123456789.0 }} {{ 0.000001 }} {{ 2.5e-5 }} {{ 100000000000000000000.0 }}"#,
    ),
    (
        "float long precision",
        r#"{{ printf "%.30f|%.20e|%.17g" 0.1 0.3333333333333333 0.1 }}"#,
    ),
    (
        "float %g corners",
        r#"{{ printf "%.3g %.3g %g %.0e %g" 0.0001234 1234567.0 1e-4 15.0 1e-5 }}"#,
    ),
    (
        "float hex corners",
        r#"{{ printf "%.3x %#.3x %#x %x %+x % x" 1.0 1.0 0.0 -1.5 1.5 1.5 }}"#,
    ),
    (
        "float e padding",
        r#"{{ printf "[%08.3e][%-08.3e][%+08.2f][%08.2f]" -1.5 1.5 1.5 -0.0 }}"#,
    ),
    ("float percent", r#"{{ printf "%6.2f%%" 12.345 }}"#),
    (
        "float v flags",
        r#"{{ printf "%+.3v|%#.3v|% v|%+v" 1.0 1.0 1.5 -1.5 }}"#,
    ),
    (
        "complex forms",
        r#"{{ printf "%+v|%8v|%#v|%x|%b" 1i 1+1i 1i 1i 1i }}"#,
    ),
    ("complex print", r#"{{ print 1i 2 "a" 3i }}"#),
    (
        "int sharp zero",
        r#"{{ printf "%#o %#x %#b %#X" 0 0 0 -255 }}"#,
    ),
    (
        "int flags mixed",
        r#"{{ printf "[%-+5d][%+-5d][%- 5d]" 3 3 3 }}"#,
    ),
    (
        "unicode beyond range",
        r#"{{ printf "%U %#U" 0x110000 0xD800 }}"#,
    ),
    ("char width", r#"{{ printf "%c|%5c|%-3c|" 233 233 233 }}"#),
    (
        "string quoted width",
        r#"{{ printf "[%5q][%-8q][%.2q][%#8q]" "a" "b" "abc" "c" }}"#,
    ),
    (
        "string hex forms",
        r#"{{ printf "[% X][%#-8x][%# x][%x]" "ab" "ab" "abc" "" }}"#,
    ),
    (
        "string v precision",
        r#"{{ printf "%6.2v|%.1v|%t" "abc" "xyz" "true" }}"#,
    ),
    (
        "argument star index",
        r#"{{ printf "%[1]*d|" 5 }}|{{ printf "%.[2]d" 1 2 }}"#,
    ),
    (
        "reordered no extra",
        r#"{{ printf "%[2]d %d" 1 2 3 }}|{{ printf "%d %[5]d %d" 1 2 }}"#,
    ),
    (
        "missing verbs",
        r#"{{ printf "%v %v" true }}|{{ printf "%s" }}|[{{ printf "" }}]|{{ printf "%" 1 }}"#,
    ),
    ("bang verbs", r#"{{ printf "%!" }}|{{ printf "%!d" 1 }}"#),
    (
        "escapers on numbers",
        r#"{{ html 1.5 }} {{ js 1i }} {{ urlquery true }} {{ html "a" nil }}"#,
    ),
    (
        "print string and nil",
        r#"{{ print "a" nil }}|{{ print nil "a" }}|{{ print 1 nil 2 }}"#,
    ),
    (
        "slice corners",
        r#"[{{ slice "abc" 1 1 }}][{{ slice "abc" 3 }}][{{ slice "abc" 0 3 }}]"#,
    ),
    (
        "index type",
        r#"{{ index "abc" 0 | printf "%T" }} {{ printf "%T" (and 1 "a") }} {{ printf "%T" (or 0 1.5) }}"#,
    ),
    (
        "byte truth and eq",
        r#"{{ not (index "a" 0) }} {{ eq (index "a" 0) (index "a" 0) }} {{ if (index "\x00" 0) }}t{{ else }}f{{ end }}"#,
    ),
    ("dollar redeclared", r#"{{ $ := 1 }}{{ $ }}"#),
    (
        "with else variable",
        r#"{{ with $x := "" }}a{{ else }}[{{ $x }}]{{ end }}"#,
    ),
    (
        "adjacent actions",
        r#"x{{ "y" }}z{{ "a" }}{{/* */}}{{ "b" }}"#,
    ),
    ("trim at edges", r#"{{- "a" -}}"#),
    ("trim comment left", r#"a  {{- /* c */}}  b"#),
    (
        "len of unicode",
        r#"{{ print "\u00e9" | len }} {{ len `日本` }}"#,
    ),
    (
        "and or values",
        r#"{{ and "" 1 }}|{{ and 1 "" }}|{{ or 0 "" }}|{{ or nil 0 }}"#,
    ),
    (
        "comparison results",
        r#"{{ printf "%T" (eq 1 1) }} {{ printf "%v" (lt "a" "b") }}"#,
    ),
    ("not piped", r#"{{ 0 | not }} {{ "" | not | not }}"#),
    (
        "nested template data",
        r#"{{ define "N1" }}({{ . }}{{ with . }}{{ template "N2" . }}{{ end }}){{ end }}{{ define "N2" }}[{{ len . }}]{{ end }}{{ template "N1" "abc" }}"#,
    ),
    (
        "block with variables",
        r#"{{ $v := 5 }}{{ block "BV" $v }}{{ $ }}{{ . }}{{ end }}"#,
    ),
    (
        "range else with variables",
        r#"{{ range $i, $e := .X }}{{ $i }}{{ else }}{{ $ }}{{ end }}"#,
    ),
];

/// (name, template) that both servers refuse to load.
pub const ERROR_CASES: &[(&str, &str)] = &[
    ("undefined function", r#"{{ nope }}"#),
    ("len of int", r#"{{ len 3 }}"#),
    ("len of nil data", r#"{{ len . }}"#),
    ("len of nil", r#"{{ len nil }}"#),
    ("index out of range", r#"{{ index "abc" 5 }}"#),
    ("index of nil", r#"{{ index . 1 }}"#),
    ("index with string", r#"{{ index "abc" "1" }}"#),
    ("index of int", r#"{{ index 1 0 }}"#),
    ("slice reversed", r#"{{ slice "abc" 2 1 }}"#),
    ("slice three indexes", r#"{{ slice "abc" 0 1 2 }}"#),
    ("slice of int", r#"{{ slice 1 }}"#),
    ("eq mixed types", r#"{{ eq 1 "1" }}"#),
    ("lt bools", r#"{{ lt true false }}"#),
    ("lt int and float", r#"{{ lt 1 1.5 }}"#),
    ("lt complex", r#"{{ lt 1i 2i }}"#),
    ("lt nil", r#"{{ lt nil 1 }}"#),
    ("eq no arguments", r#"{{ eq }}"#),
    ("eq one argument", r#"{{ eq 1 }}"#),
    ("not two arguments", r#"{{ not 1 2 }}"#),
    ("ne one argument", r#"{{ ne 1 }}"#),
    ("and no arguments", r#"{{ and }}"#),
    ("getenv number", r#"{{ getenv 1 }}"#),
    ("getenv nil", r#"{{ getenv nil }}"#),
    ("getenv piped int", r#"{{ 1 | getenv }}"#),
    ("getenv nil data", r#"{{ getenv . }}"#),
    ("printf number format", r#"{{ printf 1 }}"#),
    ("call nil", r#"{{ call nil }}"#),
    ("call int", r#"{{ call 1 2 }}"#),
    ("int overflow at run time", r#"{{ 9223372036854775808 }}"#),
    ("integer overflow", r#"{{ 18446744073709551616 }}"#),
    ("octal 08", r#"{{ 08 }}"#),
    ("double underscore", r#"{{ 1__0 }}"#),
    ("hex imaginary", r#"{{ 0x10i }}"#),
    ("float out of range", r#"{{ 1e400 }}"#),
    ("bad number", r#"{{ 3x }}"#),
    ("unclosed if", r#"{{ if true }}x"#),
    ("stray end", r#"{{ end }}"#),
    ("stray else", r#"{{ else }}"#),
    ("two elses", r#"{{ if 1 }}{{ else }}{{ else }}{{ end }}"#),
    ("else with", r#"{{ with 1 }}a{{ else with 2 }}b{{ end }}"#),
    (
        "else if in with",
        r#"{{ with 1 }}a{{ else if 2 }}b{{ end }}"#,
    ),
    (
        "else if in range",
        r#"{{ range . }}a{{ else if 2 }}b{{ end }}"#,
    ),
    ("range over int", r#"{{ range 3 }}{{ end }}"#),
    ("range over string", r#"{{ range "abc" }}{{ end }}"#),
    ("range over float", r#"{{ range $i, $e := 1.5 }}{{ end }}"#),
    ("break outside range", r#"{{ break }}"#),
    (
        "continue outside range",
        r#"{{ if 1 }}{{ continue }}{{ end }}"#,
    ),
    (
        "break with argument",
        r#"{{ range . }}{{ break 1 }}{{ end }}"#,
    ),
    ("template not defined", r#"{{ template "T" }}"#),
    ("template name not a string", r#"{{ template T }}"#),
    (
        "define twice",
        r#"{{ define "T" }}x{{ end }}{{ define "T" }}y{{ end }}"#,
    ),
    (
        "block then define",
        r#"{{ block "B" 1 }}x{{ end }}{{ define "B" }}y{{ end }}"#,
    ),
    (
        "define nested",
        r#"{{ if 1 }}{{ define "T" }}{{ end }}{{ end }}"#,
    ),
    ("define without end", r#"{{ define "T" }}x"#),
    ("define name missing", r#"{{ define }}x{{ end }}"#),
    ("undefined variable", r#"{{ $x }}"#),
    ("assign undefined variable", r#"{{ $x = 1 }}"#),
    (
        "variable out of scope",
        r#"{{ if 1 }}{{ $x := 1 }}{{ end }}{{ $x }}"#,
    ),
    ("nil command", r#"{{ nil }}"#),
    ("argument to non-function", r#"{{ 1 2 }}"#),
    ("literal in pipeline stage", r#"{{ "a" | 1 }}"#),
    ("unclosed paren", r#"{{ print ( }}"#),
    ("unexpected right paren", r#"{{ ) }}"#),
    ("unterminated string", r#"{{ "abc }}"#),
    ("unterminated raw string", r#"{{ `abc }}"#),
    ("field of int variable", r#"{{ $x := 1 }}{{ $x.Y }}"#),
    ("field of string literal", r#"{{ "a".X }}"#),
    ("field of parenthesized int", r#"{{ (1).X }}"#),
    ("field of nil", r#"{{ nil.X }}"#),
    ("field of string result", r#"{{ (print "s").Field }}"#),
    ("unclosed comment", r#"{{/* note }}"#),
    ("comment with action", r#"{{/* c */ 1 }}"#),
    ("unclosed action", r#"{{ 1 }"#),
    ("missing if value", r#"{{ if }}{{ end }}"#),
    (
        "too many range variables",
        r#"{{ range $i, $e, $f := . }}{{ end }}"#,
    ),
    ("two declarations", r#"{{ $a, $b := 1 }}"#),
    (
        "range declares non-variable",
        r#"{{ range $i, 1 }}{{ end }}"#,
    ),
    ("malformed char", r#"{{ 'ab' }}"#),
    ("bad string escape", r#"{{ "\q" }}"#),
    ("bad character", r#"{{ a-b }}"#),
    ("colon without equals", r#"{{ $x : 1 }}"#),
    ("empty action", r#"{{ }}"#),
    ("pipe only", r#"{{ | }}"#),
    (
        "error in second line",
        r#"{{ 1 }}
  {{ nope }}"#,
    ),
    (
        "range variable after end",
        r#"{{ range $i, $e := . }}{{ end }}{{ $i }}"#,
    ),
    ("len of byte", r#"{{ len (index "ab" 0) }}"#),
    ("index of byte", r#"{{ index (index "ab" 0) 0 }}"#),
    ("slice past the end", r#"{{ slice "abc" 1 4 }}"#),
    ("slice negative", r#"{{ slice "abc" -1 }}"#),
    ("index with float", r#"{{ index "abc" 1.0 }}"#),
    ("eq uint8 and string", r#"{{ eq (index "a" 0) "a" }}"#),
    (
        "template with two arguments",
        r#"{{ define "TT" }}{{ end }}{{ template "TT" 1 2 }}"#,
    ),
    ("printf piped nil", r#"{{ nil | printf }}"#),
    ("html with too few", r#"{{ printf }}"#),
];
