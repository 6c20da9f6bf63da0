//! Phase 9, send: the body the edge hands to the connection.
//!
//! [`ResponseBody`] passes the response's frames through, tells the log phase what was handed
//! over and finishes the request's record when the last byte has gone or the viewer has gone
//! away (`metering`). A response served from the cache keeps its object with it, so
//! that the connection (the transport, [`crate::server`]) can send the body from the object's
//! file mirror with `sendfile` ([`crate::sendfile`]); the pipeline makes no call for that.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::metering::Pending;
use crate::cache::store::CachedObject;
use crate::sendfile::Mirror;

/// A response's body on its way to the connection; see the module docs.
#[derive(Debug)]
pub struct ResponseBody {
    inner: Body,
    /// The request's record, finished when the body ends or is dropped.
    record: Option<Box<Pending>>,
    /// The cached object the body comes from, when it does.
    source: Option<Arc<CachedObject>>,
}

impl ResponseBody {
    pub(crate) fn new(
        inner: Body,
        record: Option<Box<Pending>>,
        source: Option<Arc<CachedObject>>,
    ) -> Self {
        ResponseBody {
            inner,
            record,
            source,
        }
    }

    /// The file mirror of the cached body this response's body is (a part of), if any: the
    /// connection may send the bytes from it instead of copying them.
    pub fn mirror(&self) -> Option<&Arc<Mirror>> {
        self.source.as_ref()?.mirror.as_ref()
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if self.record.is_none() {
            return polled;
        }
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                let ended = self.inner.is_end_stream();
                if let Some(r) = self.record.as_mut() {
                    r.sent(n, ended);
                }
                if ended && let Some(r) = self.record.take() {
                    r.finish();
                }
            }
            Poll::Ready(None) => {
                if let Some(r) = self.record.take() {
                    r.finish();
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
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

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(r) = self.record.take() {
            r.finish();
        }
    }
}
