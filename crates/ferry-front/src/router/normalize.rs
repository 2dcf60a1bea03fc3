//! The path as locations see it (Nginx's `$uri`).

/// The path as locations see it (Nginx's `$uri`): percent-decoded, `//` merged, `.` and `..`
/// resolved. `None` when it climbs above `/`, holds a NUL, or does not start with `/`.
pub(crate) fn normalize(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    if decoded.contains('\0') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for part in &parts {
        out.push('/');
        out.push_str(part);
    }
    let directory = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    if out.is_empty() || (directory && !out.ends_with('/')) {
        out.push('/');
    }
    Some(out)
}
