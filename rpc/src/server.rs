//! The HTTP and WebSocket transport: JSON-RPC 2.0 on one port, like anvil.
//!
//! - `POST /` takes a request object or a batch (an array). Notifications (no `id`) are
//!   executed and get no response; a batch of only notifications answers HTTP 204.
//! - `GET /` with a WebSocket upgrade opens a session that takes the same messages.
//! - Bodies above [`ServerConfig::max_request_size`] are refused with -32600 and HTTP 413
//!   before they are read whole; batches above [`ServerConfig::max_batch_size`] with -32600.
//!   A batch's members run one after another, yielding to other clients between each other;
//!   a batch of more than [`BULK_BATCH`] is bulk work, run at a lower priority.
//! - CORS is open (any origin), so browser dapps on another port can talk to the node.
//! - `eth_subscribe` / `eth_unsubscribe` are served on WebSocket connections only (see
//!   the `pubsub` module); over HTTP they are refused with -32601 "notifications not supported".

use crate::{
    api::{EthApi, encoded},
    error::RpcError,
    pubsub::Session,
};
use axum::{
    Router,
    body::{Body, Bytes},
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json, value::RawValue};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Transport limits.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body (HTTP) or message (WebSocket), in bytes.
    pub max_request_size: usize,
    /// Most requests in one batch.
    pub max_batch_size: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { max_request_size: 64 * 1024 * 1024, max_batch_size: 1000 }
    }
}

#[derive(Debug)]
struct ServerState {
    api: EthApi,
    config: ServerConfig,
}

/// The router serving JSON-RPC at `/`. Merge further routes into it before serving.
pub fn router(api: EthApi, config: ServerConfig) -> Router {
    let state = Arc::new(ServerState { api, config });
    Router::new()
        .route("/", any(root))
        .with_state(state)
        .layer(axum::middleware::map_response(cors))
}

async fn cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, OPTIONS"),
    );
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
    response
}

async fn root(
    State(state): State<Arc<ServerState>>,
    method: Method,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    body: Body,
) -> Response {
    match method {
        Method::POST => http_post(state, &headers, body).await,
        Method::GET => match ws {
            Ok(ws) => {
                let max = state.config.max_request_size;
                ws.max_message_size(max).on_upgrade(move |socket| ws_session(state, socket))
            }
            Err(_) => (
                StatusCode::OK,
                "ANH JSON-RPC endpoint: POST JSON-RPC 2.0 requests here, or open a WebSocket on this URL.\n",
            )
                .into_response(),
        },
        Method::OPTIONS => StatusCode::NO_CONTENT.into_response(),
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body)
        .into_response()
}

async fn http_post(state: Arc<ServerState>, headers: &HeaderMap, body: Body) -> Response {
    let limit = state.config.max_request_size;
    let too_large = || {
        let error =
            RpcError::invalid_request(format!("request body exceeds the limit of {limit} bytes"));
        json_response(StatusCode::PAYLOAD_TOO_LARGE, error_response(Value::Null, error).into())
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return too_large();
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return too_large(),
    };
    match handle_payload(&state, &bytes, None).await {
        Some(response) => json_response(StatusCode::OK, response.into()),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// A successful response, written around a result that is JSON text already.
#[derive(Serialize)]
struct Success<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: &'a RawValue,
}

/// `value` as JSON text (a response or a batch of them).
fn text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn error_response(id: Value, error: RpcError) -> String {
    text(&json!({ "jsonrpc": "2.0", "id": id, "error": error }))
}

/// Handles one payload (a request or a batch); `None` when nothing is to be answered.
/// `session` is the WebSocket connection's, which serves `eth_subscribe`.
async fn handle_payload(
    state: &ServerState,
    bytes: &[u8],
    mut session: Option<&mut Session>,
) -> Option<String> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => return Some(error_response(Value::Null, RpcError::parse_error(e))),
    };
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Some(error_response(Value::Null, RpcError::invalid_request("empty batch")));
            }
            if items.len() > state.config.max_batch_size {
                let error = RpcError::invalid_request(format!(
                    "batch of {} requests exceeds the limit of {}",
                    items.len(),
                    state.config.max_batch_size
                ));
                return Some(error_response(Value::Null, error));
            }
            let bulk = items.len() > BULK_BATCH;
            let run = async {
                let mut responses = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(response) =
                        handle_request(&state.api, item, session.as_deref_mut()).await
                    {
                        responses.push(response);
                    }
                    // A batch is up to a thousand requests that may each finish without
                    // waiting (a refused transaction: decoded, its sender recovered): let other
                    // clients' requests run between them rather than behind the whole batch.
                    tokio::task::yield_now().await;
                }
                responses
            };
            let responses = match bulk {
                true => state.api.in_background(run).await,
                false => run.await,
            };
            (!responses.is_empty()).then(|| format!("[{}]", responses.join(",")))
        }
        single => handle_request(&state.api, single, session).await,
    }
}

/// Batches of more members than this (more than the client libraries send by default) are
/// bulk work: their members run on the low-priority runtime of [`crate::background`], so a
/// flood of batches yields the machine to everyone else.
pub const BULK_BATCH: usize = 100;

/// Handles one request object; `None` for a notification.
async fn handle_request(
    api: &EthApi,
    request: Value,
    session: Option<&mut Session>,
) -> Option<String> {
    let Value::Object(mut object) = request else {
        return Some(error_response(
            Value::Null,
            RpcError::invalid_request("a request must be a JSON object"),
        ));
    };
    let id = object.remove("id");
    if let Some(id) = &id
        && !(id.is_null() || id.is_string() || id.is_number())
    {
        return Some(error_response(
            Value::Null,
            RpcError::invalid_request("id must be a string, a number or null"),
        ));
    }
    let reply_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(error_response(
            reply_id,
            RpcError::invalid_request("\"jsonrpc\" must be \"2.0\""),
        ));
    }
    let Some(Value::String(method)) = object.remove("method") else {
        return Some(error_response(
            reply_id,
            RpcError::invalid_request("\"method\" must be a string"),
        ));
    };
    let params = object.remove("params").unwrap_or(Value::Null);
    let result = match session {
        Some(session) if Session::serves(&method) => {
            session.handle(&method, params).and_then(|result| encoded(&result))
        }
        _ => api.execute_encoded(&method, params).await,
    };
    let id = id?;
    Some(match result {
        Ok(result) => text(&Success { jsonrpc: "2.0", id: &id, result: &result }),
        Err(error) => error_response(id, error),
    })
}

async fn ws_session(state: Arc<ServerState>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (outgoing, mut queue) = mpsc::channel::<Vec<u8>>(256);
    let mut session = Session::new(state.api.clone(), outgoing.clone());
    let writer = tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            let text = String::from_utf8(bytes).unwrap_or_default();
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        let bytes: Bytes = match message {
            Message::Text(text) => Bytes::copy_from_slice(text.as_bytes()),
            Message::Binary(bytes) => bytes,
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if let Some(response) = handle_payload(&state, &bytes, Some(&mut session)).await
            && outgoing.send(response.into_bytes()).await.is_err()
        {
            break;
        }
        session.start_pending();
    }
    // Ends the connection's subscriptions, which hold senders of `outgoing`.
    drop(session);
    drop(outgoing);
    let _ = writer.await;
}
