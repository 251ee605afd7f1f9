//! Docker's JSON message streams.
//!
//! Long operations (load, import, pull, push, build) answer `200` at once and then report
//! progress as a sequence of JSON objects: `{"stream": "..."}`, `{"status": "...", "id": "..."}`
//! and, on failure, `{"errorDetail": {"message": "..."}, "error": "..."}`. Because the status line
//! was already sent, a failure only shows up in that last form, so it is turned into an `Err`
//! here: a caller that forgets to look at the messages still sees the failure.

use std::collections::VecDeque;

use futures_util::{Stream, StreamExt, stream};
use serde_json::Value;

use crate::body::ByteStream;
use crate::error::{Error, Result};

/// The error a message reports, if any: `errorDetail.message` wins over `error` because that is
/// what docker prints.
pub fn message_error(msg: &Value) -> Option<String> {
    let detail = msg
        .get("errorDetail")
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    let plain = msg
        .get("error")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    detail.or(plain).map(str::to_owned)
}

/// Incremental decoder: bytes in, complete JSON values out.
///
/// Messages are usually newline-separated, but moby's decoder accepts any whitespace (or none)
/// between values and chunks may split a value anywhere, so this keeps the unparsed tail.
#[derive(Default)]
struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    fn push(&mut self, chunk: &[u8], out: &mut VecDeque<Value>) -> Result<()> {
        self.buf.extend_from_slice(chunk);
        let mut values = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        let consumed = loop {
            let before = values.byte_offset();
            match values.next() {
                Some(Ok(v)) => out.push_back(v),
                Some(Err(e)) if e.is_eof() => break before,
                Some(Err(e)) => return Err(Error::Json(e)),
                None => break values.byte_offset(),
            }
        };
        self.buf.drain(..consumed);
        Ok(())
    }

    /// Fails if the stream ended in the middle of a value.
    fn finish(&self) -> Result<()> {
        match std::str::from_utf8(&self.buf).map(str::trim) {
            Ok("") => Ok(()),
            _ => Err(Error::Stream {
                message: "unexpected end of JSON message stream".to_owned(),
            }),
        }
    }
}

struct State {
    body: ByteStream,
    decoder: Decoder,
    ready: VecDeque<Value>,
    done: bool,
}

/// Decodes a JSON message stream. Every message is yielded as-is except error messages, which
/// become `Err(Error::Stream)` and end the stream.
pub fn json_messages(body: ByteStream) -> impl Stream<Item = Result<Value>> + Send {
    let state = State {
        body,
        decoder: Decoder::default(),
        ready: VecDeque::new(),
        done: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(msg) = st.ready.pop_front() {
                if let Some(message) = message_error(&msg) {
                    st.done = true;
                    st.ready.clear();
                    return Some((Err(Error::Stream { message }), st));
                }
                return Some((Ok(msg), st));
            }
            if st.done {
                return None;
            }
            let step = match st.body.next().await {
                Some(Ok(chunk)) => st.decoder.push(&chunk, &mut st.ready),
                Some(Err(e)) => Err(e),
                None => {
                    st.done = true;
                    st.decoder.finish()
                }
            };
            if let Err(e) = step {
                st.done = true;
                st.ready.clear();
                return Some((Err(e), st));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures_util::TryStreamExt;
    use serde_json::json;

    fn body(chunks: &[&str]) -> ByteStream {
        let owned: Vec<Result<Bytes>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c.as_bytes())))
            .collect();
        stream::iter(owned).boxed()
    }

    async fn all(chunks: &[&str]) -> (Vec<Value>, Option<Error>) {
        let mut s = Box::pin(json_messages(body(chunks)));
        let mut ok = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(v) => ok.push(v),
                Err(e) => return (ok, Some(e)),
            }
        }
        (ok, None)
    }

    #[tokio::test]
    async fn splits_values_across_chunks() {
        let (msgs, err) = all(&[
            "{\"stream\":\"Loaded image: busy",
            "box:latest\\n\"}\n{\"status\":\"a\",",
            "\"id\":\"1\"}{\"status\":\"b\"}\r\n",
        ])
        .await;
        assert!(err.is_none());
        assert_eq!(
            msgs,
            vec![
                json!({"stream": "Loaded image: busybox:latest\n"}),
                json!({"status": "a", "id": "1"}),
                json!({"status": "b"}),
            ]
        );
    }

    #[tokio::test]
    async fn error_message_becomes_err_and_stops() {
        let (msgs, err) = all(&[
            "{\"status\":\"x\"}\n",
            "{\"errorDetail\":{\"message\":\"bad tar\"},\"error\":\"bad tar (short)\"}\n",
            "{\"status\":\"after\"}\n",
        ])
        .await;
        assert_eq!(msgs, vec![json!({"status": "x"})]);
        match err {
            Some(Error::Stream { message }) => assert_eq!(message, "bad tar"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn plain_error_field_and_empty_error_ignored() {
        let (_, err) = all(&["{\"error\":\"boom\"}"]).await;
        assert_eq!(err.unwrap().to_string(), "boom");
        let (msgs, err) = all(&["{\"status\":\"ok\",\"error\":\"\"}"]).await;
        assert!(err.is_none());
        assert_eq!(msgs.len(), 1);
    }

    #[tokio::test]
    async fn truncated_and_invalid_streams_fail() {
        let (msgs, err) = all(&["{\"status\":\"ok\"}\n{\"stat"]).await;
        assert_eq!(msgs.len(), 1);
        assert!(matches!(err, Some(Error::Stream { .. })));
        let (_, err) = all(&["not json"]).await;
        assert!(matches!(err, Some(Error::Json(_))));
    }

    #[tokio::test]
    async fn empty_stream_is_fine() {
        let s = json_messages(body(&[]));
        let v: Vec<Value> = s.try_collect().await.unwrap();
        assert!(v.is_empty());
    }
}
