//! hyper's own answers, dressed. A request hyper cannot parse (a bad
//! request line, a NUL in a header, two different `Content-Length`s, a head
//! over the cap, too many headers) never reaches the service: hyper writes
//! a bare `400`, `414` or `431` head with `content-length: 0` itself and
//! closes. [`Dressed`] wraps the connection's socket, recognises that head
//! as it is written, and sends the same status with the JSON envelope of
//! SPEC §3 and a request id instead.
//!
//! Only a head written at the start of a write is recognised: hyper writes
//! its error answer on its own, except behind a pipelined answer still
//! unsent, which then stays bare (docs/ARCHITECTURE.md lists what cannot be
//! dressed).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::error::body_for_status;
use crate::http::request_id::new_request_id;

/// A socket whose hyper-made error heads are rewritten in the envelope.
#[derive(Debug)]
pub(crate) struct Dressed<S> {
    inner: S,
    /// A rewritten answer being sent: the bytes, how many are out, and how
    /// many bytes of hyper's own head it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<S> Dressed<S> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// hyper's bare answer to an unparseable request: the whole head, and its
/// status.
fn bare_error_head(buf: &[u8]) -> Option<(usize, StatusCode)> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ")?;
    let code = rest.get(..3)?;
    if !matches!(code, b"400" | b"414" | b"431") {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = &buf[..end];
    let has = |needle: &[u8]| {
        head.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    if !has(b"\r\ncontent-length: 0\r\n") || has(b"\r\ncontent-type:") {
        return None;
    }
    let status = StatusCode::from_bytes(code).ok()?;
    Some((end, status))
}

/// The dressed answer for `status`: hyper's head less its length, then
/// type, length, request id and the envelope.
fn dressed(head: &[u8], status: StatusCode) -> Vec<u8> {
    let body = body_for_status(status).unwrap_or(r#"{"error":"Bad Request"}"#);
    let mut out = Vec::with_capacity(head.len() + 128);
    for line in head[..head.len() - 2].split_inclusive(|&b| b == b'\n') {
        if !line.to_ascii_lowercase().starts_with(b"content-length:") {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"content-type: application/json\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\nx-request-id: ");
    out.extend_from_slice(new_request_id().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

impl<S: AsyncWrite + Unpin> Dressed<S> {
    /// Sends the pending rewrite; done, it reports hyper's head as written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, sent, stands_for)) = &mut self.pending {
            if *sent == bytes.len() {
                let written = *stands_for;
                self.pending = None;
                return Poll::Ready(Ok(written));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(0))
    }

    /// Starts a rewrite if `buf` opens with hyper's bare error head.
    fn intercept(&mut self, buf: &[u8]) -> bool {
        match bare_error_head(buf) {
            Some((end, status)) => {
                self.pending = Some((dressed(&buf[..end], status), 0, end));
                true
            }
            None => false,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Dressed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_some() || this.intercept(buf) {
            return this.poll_pending(cx);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        if this.pending.is_some() || this.intercept(first) {
            return this.poll_pending(cx);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending.is_some() {
            ready!(this.poll_pending(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending.is_some() {
            ready!(this.poll_pending(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Dressed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bare_error_heads_are_recognised() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(
            bare_error_head(bare),
            Some((bare.len(), StatusCode::BAD_REQUEST))
        );
        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\nrest";
        assert_eq!(
            bare_error_head(big),
            Some((big.len() - 4, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
        );
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 23\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ncontent-type: text/plain\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"error\":\"HTTP/1.1 400 \"}",
        ] {
            assert_eq!(bare_error_head(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn the_dressed_answer_keeps_the_status_and_adds_the_envelope() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue\r\n\r\n";
        let out =
            String::from_utf8(dressed(head, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\ndate: Tue\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\ncontent-type: application/json\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(head.contains("\r\nx-request-id: "), "{head}");
        assert!(!head.contains("content-length: 0"), "{head}");
        assert_eq!(body, r#"{"error":"Request Header Fields Too Large"}"#);
    }
}
