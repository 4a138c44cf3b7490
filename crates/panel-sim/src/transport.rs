//! The transport-level hostile faults, the same for every panel: `endless`, `trickle` and
//! `gzip` ([`Fault::Endless`], [`Fault::Trickle`], [`Fault::Gzip`]).
//!
//! A panel's handler builds its normal answer and passes it to [`apply`]; for these three
//! faults it gets back the hostile response, for any other fault (or none) its body back to
//! answer as usual. New panels call it the same way.
//!
//! - `endless`: HTTP 200, the panel's content type, no `Content-Length`, and a body that is
//!   the normal answer repeated without end — until the client hangs up or the simulator
//!   shuts down.
//! - `trickle`: HTTP 200, the normal answer one byte at a time with the fault's pause
//!   between bytes (each byte resets a client's read time-out).
//! - `gzip`: HTTP 200, `Content-Encoding: gzip`, the normal answer gzip-compressed
//!   (RFC 1952, with stored deflate blocks, RFC 1951 §3.2.4) whatever `Accept-Encoding`
//!   the request had.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use crate::handle::Shared;
use crate::Fault;

/// The hostile response for a transport fault; `Err(body)` (the body given back) for any
/// other fault or none.
pub(crate) fn apply(
    fault: Option<Fault>,
    content_type: &'static str,
    body: Bytes,
    shared: &Arc<Shared>,
) -> Result<Response, Bytes> {
    match fault {
        Some(Fault::Endless) => Ok(endless(content_type, body, Arc::clone(shared))),
        Some(Fault::Trickle(pause)) => Ok(trickle(content_type, body, pause, Arc::clone(shared))),
        Some(Fault::Gzip) => {
            let mut resp = ok(content_type, Body::from(gzip(&body)));
            resp.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            Ok(resp)
        }
        _ => Err(body),
    }
}

fn ok(content_type: &'static str, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// The error that ends a stream when the simulator shuts down.
fn shutting_down() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "panel-sim is shutting down",
    )
}

fn endless(content_type: &'static str, body: Bytes, shared: Arc<Shared>) -> Response {
    // An empty answer would make an endless stream of empty chunks: send something.
    let unit = if body.is_empty() {
        Bytes::from_static(b" ")
    } else {
        body
    };
    let stream = futures::stream::unfold(shared, move |shared| {
        let unit = unit.clone();
        async move {
            if shared.is_shutting_down() {
                return Some((Err(shutting_down()), shared));
            }
            // Yield so a client that stops reading lets the server task notice shutdown.
            tokio::task::yield_now().await;
            Some((Ok::<Bytes, std::io::Error>(unit), shared))
        }
    });
    ok(content_type, Body::from_stream(stream))
}

fn trickle(
    content_type: &'static str,
    body: Bytes,
    pause: Duration,
    shared: Arc<Shared>,
) -> Response {
    let stream = futures::stream::unfold(
        (0usize, body, shared),
        move |(i, body, shared)| async move {
            if i >= body.len() {
                return None;
            }
            if i > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shared.shutdown_requested() => {
                        return Some((Err(shutting_down()), (body.len(), body, shared)));
                    }
                }
            }
            let byte = body.slice(i..i + 1);
            Some((Ok::<Bytes, std::io::Error>(byte), (i + 1, body, shared)))
        },
    );
    ok(content_type, Body::from_stream(stream))
}

/// `data` as a gzip member (RFC 1952) of stored deflate blocks: valid gzip that any
/// decompressor reads, without a compression library.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    // Stored blocks hold at most 65,535 bytes each.
    const BLOCK: usize = 65_535;
    let mut out = Vec::with_capacity(data.len() + data.len() / BLOCK * 5 + 32);
    // ID1 ID2, CM = deflate, no flags, no mtime, XFL 0, OS unknown.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut blocks = data.chunks(BLOCK).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = u8::from(blocks.peek().is_none());
        let len = block.len() as u16;
        out.push(last); // BFINAL, BTYPE = 00 (stored)
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as gzip's trailer needs.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The CRC-32 check value of "123456789" (RFC 1952 / ISO-HDLC).
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn gzip_is_stored_blocks_with_the_right_trailer() {
        let data = vec![b'a'; 70_000];
        let g = gzip(&data);
        assert_eq!(&g[..3], &[0x1f, 0x8b, 8]);
        // Two blocks: 65,535 bytes (not final), then 4,465 (final).
        assert_eq!(g[10], 0);
        assert_eq!(u16::from_le_bytes([g[11], g[12]]), 65_535);
        let second = 10 + 5 + 65_535;
        assert_eq!(g[second], 1);
        assert_eq!(u16::from_le_bytes([g[second + 1], g[second + 2]]), 4_465);
        let n = g.len();
        assert_eq!(
            u32::from_le_bytes([g[n - 4], g[n - 3], g[n - 2], g[n - 1]]),
            70_000
        );
        assert_eq!(
            u32::from_le_bytes([g[n - 8], g[n - 7], g[n - 6], g[n - 5]]),
            crc32(&data)
        );
        assert_eq!(gzip(b"").len(), 10 + 5 + 8);
    }
}
