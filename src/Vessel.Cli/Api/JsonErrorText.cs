using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Vessel.Cli.Api;

/// <summary>A refused JSON body described in the client's own terms: the JSON path of the field, what the field
/// takes, the fields an object allows. System.Text.Json's messages name .NET types and say "could not be converted"
/// for every kind of mismatch; the schema (the source-generated type information) and the body itself say more.</summary>
internal static class JsonErrorText
{
    /// <summary>The message for <paramref name="error"/>, thrown while reading <paramref name="body"/> as
    /// <paramref name="root"/>.</summary>
    public static string Describe(JsonException error, ReadOnlySpan<byte> body, JsonTypeInfo root)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = root.Options.MaxDepth });
        }
        catch (JsonException)
        {
            return SyntaxError(error); // the serializer's own message carries the path it had reached
        }
        using (document)
        {
            return Schema(error, document.RootElement, root) ?? SyntaxError(error);
        }
    }

    /// <summary>Malformed JSON (or a mismatch the schema walk cannot explain): the reader's message, which names no
    /// .NET type, with the position as line and column counted from 1.</summary>
    internal static string SyntaxError(JsonException error)
    {
        string message = error.Message;
        int path = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (path > 0) message = message[..path];
        int typeNames = message.IndexOf(" .NET ", StringComparison.Ordinal);
        if (typeNames > 0 || message.Contains("Vessel.", StringComparison.Ordinal)) message = "the body does not match the expected fields.";
        string at = error.LineNumber is { } line && error.BytePositionInLine is { } column
            ? $" (line {line + 1}, column {column + 1})" : "";
        return error.Path is { Length: > 1 } p ? $"{p}: {message.TrimEnd('.')}{at}" : $"{message.TrimEnd('.')}{at}";
    }

    private static string? Schema(JsonException error, JsonElement document, JsonTypeInfo root)
    {
        var segments = PathSegments(error.Path ?? "$");
        if (segments is null) return null;
        JsonTypeInfo type = root;
        JsonElement value = document;
        string walked = "$";
        foreach (var (name, index) in segments)
        {
            if (index is { } i)
            {
                if (type.ElementType is not { } element || value.ValueKind != JsonValueKind.Array || i >= value.GetArrayLength()) return null;
                type = root.Options.GetTypeInfo(element);
                value = value[i];
                walked += $"[{i}]";
                continue;
            }
            if (type.Kind != JsonTypeInfoKind.Object || value.ValueKind != JsonValueKind.Object) return null;
            JsonPropertyInfo? property = Property(type, name!);
            if (property is null) return $"{walked}: unknown field '{name}' (the fields are {FieldList(type)})";
            if (!value.TryGetProperty(name!, out value)) return null;
            type = root.Options.GetTypeInfo(property.PropertyType);
            walked += "." + name;
        }
        if (type.Kind == JsonTypeInfoKind.Object && value.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonPropertyInfo property in type.Properties)
                if (property.IsRequired && !value.TryGetProperty(property.Name, out _))
                    return $"{walked}: the required field '{property.Name}' is missing";
            foreach (JsonProperty present in value.EnumerateObject())
                if (Property(type, present.Name) is null)
                    return $"{walked}: unknown field '{present.Name}' (the fields are {FieldList(type)})";
            return null;
        }
        return Fits(type, value) ? null : $"{walked}: expected {Expected(type)}, not {Found(value)}";
    }

    /// <summary>The value is of the kind the field takes, so the error was about something else.</summary>
    private static bool Fits(JsonTypeInfo type, JsonElement value)
    {
        Type t = Nullable.GetUnderlyingType(type.Type) ?? type.Type;
        return (t == typeof(string) && value.ValueKind == JsonValueKind.String)
            || (t == typeof(bool) && value.ValueKind is JsonValueKind.True or JsonValueKind.False);
    }

    private static JsonPropertyInfo? Property(JsonTypeInfo type, string name)
    {
        foreach (JsonPropertyInfo property in type.Properties)
            if (property.Name == name) return property;
        return null;
    }

    private static string FieldList(JsonTypeInfo type)
    {
        var names = new StringBuilder();
        foreach (JsonPropertyInfo property in type.Properties)
            names.Append(names.Length == 0 ? "" : ", ").Append(property.Name);
        return names.ToString();
    }

    /// <summary>What a field of <paramref name="type"/> takes, in JSON's words.</summary>
    private static string Expected(JsonTypeInfo type)
    {
        Type t = Nullable.GetUnderlyingType(type.Type) ?? type.Type;
        return t == typeof(string) ? "a string"
            : t == typeof(bool) ? "true or false"
            : t == typeof(int) ? $"an integer from {int.MinValue} to {int.MaxValue}"
            : t == typeof(long) ? $"an integer from {long.MinValue} to {long.MaxValue}"
            : t == typeof(ulong) ? $"an integer from 0 to {ulong.MaxValue}"
            : t == typeof(uint) ? $"an integer from 0 to {uint.MaxValue}"
            : t == typeof(double) ? "a number"
            : type.Kind == JsonTypeInfoKind.Enumerable ? "an array"
            : type.Kind == JsonTypeInfoKind.Object ? "an object"
            : "another kind of value";
    }

    private static string Found(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"the string {Shortened(value.GetRawText())}",
        JsonValueKind.Number => Shortened(value.GetRawText()),
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "nothing",
    };

    private static string Shortened(string raw) => raw.Length <= 40 ? raw : raw[..37] + "...";

    /// <summary>"$.a.b[2]['c d']" as (name, index) steps; null for a path this cannot read.</summary>
    private static List<(string? Name, int? Index)>? PathSegments(string path)
    {
        if (!path.StartsWith('$')) return null;
        var segments = new List<(string?, int?)>();
        int at = 1;
        while (at < path.Length)
        {
            if (path[at] == '.')
            {
                int end = at + 1;
                while (end < path.Length && path[end] != '.' && path[end] != '[') end++;
                segments.Add((path[(at + 1)..end], null));
                at = end;
            }
            else if (path.AsSpan(at).StartsWith("['"))
            {
                int end = path.IndexOf("']", at + 2, StringComparison.Ordinal);
                if (end < 0) return null;
                segments.Add((path[(at + 2)..end], null));
                at = end + 2;
            }
            else if (path[at] == '[')
            {
                int end = path.IndexOf(']', at);
                if (end < 0 || !int.TryParse(path.AsSpan(at + 1, end - at - 1), out int index)) return null;
                segments.Add((null, index));
                at = end + 1;
            }
            else return null;
        }
        return segments;
    }
}
