//! A QR code as an SVG image, drawn on the server (no external service, no
//! script): one path of dark modules with the four-module quiet zone.

use qrcodegen::{QrCode, QrCodeEcc};

const QUIET: i32 = 4;

/// The SVG of `text` as a QR code, or `None` if it does not fit one.
pub fn svg(text: &str, label: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = qr.size();
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + QUIET, y + QUIET));
            }
        }
    }
    let side = size + 2 * QUIET;
    let label = label.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" width=\"220\" height=\"220\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"{label}\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qr_code_is_one_svg_with_its_label_escaped() {
        let svg = svg("otpauth://totp/x?secret=AAAA", "a \"QR\" <code>").unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("aria-label=\"a &quot;QR&quot; &lt;code>\""));
        assert!(svg.contains("<path d=\"M"));
    }
}
