/// Fills `{name}` placeholders from a dictionary. Unknown placeholders are
/// left as they are, so a template typo shows up in the message instead of vanishing.
public enum TemplateText {
    public static func render(_ template: String, _ variables: [String: String]) -> String {
        var output = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            let afterOpen = rest.index(after: open)
            guard let close = rest[afterOpen...].firstIndex(of: "}") else { break }
            output += rest[..<open]
            let name = String(rest[afterOpen..<close])
            if let value = variables[name] { output += value } else { output += rest[open...close] }
            rest = rest[rest.index(after: close)...]
        }
        output += rest
        return output
    }
}

extension TemplateText {
    /// The `{name}` placeholders a template uses, in order.
    public static func placeholders(in template: String) -> [String] {
        var names: [String] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            let afterOpen = rest.index(after: open)
            guard let close = rest[afterOpen...].firstIndex(of: "}") else { break }
            names.append(String(rest[afterOpen..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }
}
