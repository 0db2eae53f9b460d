// A small JSON reader and writer, enough for aesel's messages, so the client needs nothing
// beyond the .NET class library (Unity's JsonUtility cannot read free-form objects).
// Objects become Dictionary<string, object>, arrays List<object>, numbers double.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Aesel
{
    public static class MiniJson
    {
        public static object Parse(string text)
        {
            int i = 0;
            var v = Value(text, ref i);
            Skip(text, ref i);
            if (i != text.Length) throw new FormatException("unexpected text at " + i);
            return v;
        }

        static void Skip(string s, ref int i)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        }

        static object Value(string s, ref int i)
        {
            Skip(s, ref i);
            if (i >= s.Length) throw new FormatException("unexpected end of JSON");
            char c = s[i];
            if (c == '{')
            {
                var d = new Dictionary<string, object>();
                i++;
                Skip(s, ref i);
                if (s[i] == '}') { i++; return d; }
                while (true)
                {
                    Skip(s, ref i);
                    string k = Str(s, ref i);
                    Skip(s, ref i);
                    if (s[i++] != ':') throw new FormatException("expected : at " + (i - 1));
                    d[k] = Value(s, ref i);
                    Skip(s, ref i);
                    if (s[i] == ',') { i++; continue; }
                    if (s[i++] == '}') return d;
                    throw new FormatException("expected , or } at " + (i - 1));
                }
            }
            if (c == '[')
            {
                var l = new List<object>();
                i++;
                Skip(s, ref i);
                if (s[i] == ']') { i++; return l; }
                while (true)
                {
                    l.Add(Value(s, ref i));
                    Skip(s, ref i);
                    if (s[i] == ',') { i++; continue; }
                    if (s[i++] == ']') return l;
                    throw new FormatException("expected , or ] at " + (i - 1));
                }
            }
            if (c == '"') return Str(s, ref i);
            if (s.Substring(i).StartsWith("true")) { i += 4; return true; }
            if (s.Substring(i).StartsWith("false")) { i += 5; return false; }
            if (s.Substring(i).StartsWith("null")) { i += 4; return null; }
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            if (start == i) throw new FormatException("unexpected '" + c + "' at " + i);
            return double.Parse(s.Substring(start, i - start), CultureInfo.InvariantCulture);
        }

        static string Str(string s, ref int i)
        {
            if (s[i] != '"') throw new FormatException("expected a string at " + i);
            var b = new StringBuilder();
            i++;
            while (s[i] != '"')
            {
                char c = s[i++];
                if (c != '\\') { b.Append(c); continue; }
                char e = s[i++];
                switch (e)
                {
                    case 'n': b.Append('\n'); break;
                    case 't': b.Append('\t'); break;
                    case 'r': b.Append('\r'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'u': b.Append((char)Convert.ToInt32(s.Substring(i, 4), 16)); i += 4; break;
                    default: b.Append(e); break;
                }
            }
            i++;
            return b.ToString();
        }

        public static string Write(object v)
        {
            var b = new StringBuilder();
            Write(b, v);
            return b.ToString();
        }

        static void Write(StringBuilder b, object v)
        {
            if (v == null) b.Append("null");
            else if (v is string) WriteString(b, (string)v);
            else if (v is bool) b.Append((bool)v ? "true" : "false");
            else if (v is double || v is float || v is int || v is long)
                b.Append(Convert.ToDouble(v).ToString("R", CultureInfo.InvariantCulture));
            else if (v is IDictionary<string, object>)
            {
                b.Append('{');
                bool first = true;
                foreach (var kv in (IDictionary<string, object>)v)
                {
                    if (!first) b.Append(',');
                    first = false;
                    WriteString(b, kv.Key);
                    b.Append(':');
                    Write(b, kv.Value);
                }
                b.Append('}');
            }
            else if (v is System.Collections.IEnumerable)
            {
                b.Append('[');
                bool first = true;
                foreach (var x in (System.Collections.IEnumerable)v)
                {
                    if (!first) b.Append(',');
                    first = false;
                    Write(b, x);
                }
                b.Append(']');
            }
            else throw new ArgumentException("cannot write a " + v.GetType().Name + " as JSON");
        }

        static void WriteString(StringBuilder b, string s)
        {
            b.Append('"');
            foreach (char c in s)
            {
                if (c == '"' || c == '\\') b.Append('\\').Append(c);
                else if (c < ' ') b.Append("\\u").Append(((int)c).ToString("x4"));
                else b.Append(c);
            }
            b.Append('"');
        }

        /// <summary>The 16 numbers of a "transform" field, or null.</summary>
        public static double[] Transform(IDictionary<string, object> doc)
        {
            object t;
            if (!doc.TryGetValue("transform", out t)) return null;
            var l = t as List<object>;
            if (l == null || l.Count != 16) return null;
            var m = new double[16];
            for (int k = 0; k < 16; k++) m[k] = Convert.ToDouble(l[k]);
            return m;
        }
    }
}
