//! HTTP response details shared by every route: JSON bodies, ETags,
//! conditional requests, caching and gzip.

use super::{ApiError, HttpRequest, HttpResponse};

/// Bodies smaller than this go uncompressed: gzip would not pay for itself.
const GZIP_MIN_BYTES: usize = 1024;

/// A strong ETag of the body: FNV-1a 64 is plenty to tell snapshots apart
/// and costs nothing next to serialization.
pub fn etag(body: &[u8]) -> String {
    format!("\"{:016x}\"", crate::model::fnv1a(body))
}

/// Whether an `If-None-Match` value names `tag` (or is `*`). Weak
/// comparison, as RFC 9110 asks for If-None-Match.
pub fn none_match(header: &str, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == bare(tag))
}

/// Whether the client takes gzip (`Accept-Encoding`). An explicit `gzip`
/// entry decides; otherwise `*` does; `q=0` means "not acceptable"
/// (RFC 9110 §12.5.3), so `gzip;q=0, *;q=1` is a refusal.
pub fn accepts_gzip(header: &str) -> bool {
    let mut wildcard = None;
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let coding = pieces.next().unwrap_or("").trim();
        let acceptable = !pieces.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .or_else(|| p.strip_prefix("Q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return acceptable;
        }
        if coding == "*" {
            wildcard = Some(acceptable);
        }
    }
    wildcard.unwrap_or(false)
}

/// The validator and caching headers of a 200 with ETag `tag`, or the 304
/// that answers them when the client's `If-None-Match` names `tag`.
pub fn validated(
    request: &HttpRequest,
    tag: String,
    cache_control: String,
) -> Result<Vec<(String, String)>, HttpResponse> {
    let not_modified = request
        .header("if-none-match")
        .is_some_and(|h| none_match(h, &tag));
    let headers = vec![
        ("etag".to_owned(), tag),
        ("cache-control".to_owned(), cache_control),
        ("vary".to_owned(), "Accept-Encoding".to_owned()),
    ];
    if not_modified {
        return Err(HttpResponse {
            status: 304,
            headers,
            body: Vec::new(),
        });
    }
    Ok(headers)
}

/// A 200 JSON answer with ETag, 304 handling, caching and gzip.
pub fn json_ok(
    request: &HttpRequest,
    value: &impl serde::Serialize,
    cache_control: String,
) -> HttpResponse {
    let body = serde_json::to_vec(value).expect("responses serialize");
    let mut headers = match validated(request, etag(&body), cache_control) {
        Ok(headers) => headers,
        Err(not_modified) => return not_modified,
    };
    headers.push(("content-type".to_owned(), "application/json".to_owned()));
    compress_if_accepted(
        request,
        HttpResponse {
            status: 200,
            headers,
            body,
        },
    )
}

/// Any other JSON answer (health's 503, errors), compressed when asked.
pub fn json_status(
    request: &HttpRequest,
    status: u16,
    value: &impl serde::Serialize,
    extra: Vec<(String, String)>,
) -> HttpResponse {
    let body = serde_json::to_vec(value).expect("responses serialize");
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("cache-control".to_owned(), "no-store".to_owned()),
    ];
    headers.extend(extra);
    compress_if_accepted(
        request,
        HttpResponse {
            status,
            headers,
            body,
        },
    )
}

pub fn error(request: &HttpRequest, error: &ApiError) -> HttpResponse {
    let mut body = serde_json::json!({ "error": { "code": error.code, "message": error.message } });
    if let Some(reason) = error.reason {
        body["error"]["reason"] = serde_json::json!(reason);
    }
    json_status(request, error.status, &body, error.headers.clone())
}

/// Whether a body of `len` bytes goes gzip'd to this client.
pub fn wants_gzip(request: &HttpRequest, len: usize) -> bool {
    len >= GZIP_MIN_BYTES && request.header("accept-encoding").is_some_and(accepts_gzip)
}

fn compress_if_accepted(request: &HttpRequest, mut response: HttpResponse) -> HttpResponse {
    if !wants_gzip(request, response.body.len()) {
        return response;
    }
    response.body = crate::gzip::encode(&response.body);
    response
        .headers
        .push(("content-encoding".to_owned(), "gzip".to_owned()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let tag = "\"abc\"";
        assert!(none_match("\"abc\"", tag));
        assert!(none_match("W/\"abc\"", tag));
        assert!(none_match("\"x\", \"abc\"", tag));
        assert!(none_match("*", tag));
        assert!(!none_match("\"abd\"", tag));
        assert!(!none_match("", tag));
    }

    #[test]
    fn accept_encoding_forms() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("br, gzip;q=0.5"));
        assert!(accepts_gzip("GZIP"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("br, deflate"));
        assert!(!accepts_gzip("identity"));
        // The explicit entry wins over the wildcard, either order.
        assert!(!accepts_gzip("gzip;q=0, *;q=1"));
        assert!(!accepts_gzip("*;q=1, gzip;q=0"));
        assert!(!accepts_gzip("*;q=0"));
        assert!(accepts_gzip("gzip;q=1, *;q=0"));
    }
}
