//! Says `Connection: close` on an answer sent before its request's body was read.
//!
//! HTTP/1.1 lets a server answer before reading a request's body (a 405, a 401, a body over
//! its limit), but then the connection cannot carry another request: what is left of the
//! body would be read as the next one. hyper closes such a connection after the answer, yet
//! says so in the answer only when the body's end was already out of reach as the answer was
//! written. Otherwise the client pools a connection the server is closing, and its next
//! request on it fails with no answer (RFC 9112 §9.6 asks the server to say it will close).

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// The middleware: a request without a body passes untouched.
pub async fn close_when_body_unread(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let read_to_end = Arc::new(AtomicBool::new(false));
    let watched = Arc::clone(&read_to_end);
    let request = request.map(|inner| {
        Body::new(WatchedBody {
            inner,
            read_to_end: watched,
        })
    });
    let mut response = next.run(request).await;
    if !read_to_end.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records whether it was read to its end.
struct WatchedBody {
    inner: Body,
    read_to_end: Arc<AtomicBool>,
}

impl HttpBody for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => false,
        };
        if ended {
            self.read_to_end.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
