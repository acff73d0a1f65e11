//! The Stackato (CF v2) dialect: `/v2/info`, `{metadata, entity}` envelopes, `docker_image`
//! apps with inline credentials, v2 paging and `q=` filters, the v2 error shape.

use axum::Router;

use super::Shared;

/// The v2 routes.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
}
