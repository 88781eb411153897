//! Who is asking: the tenant of a bearer key, or the admin.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use flowmart_schemas::Id;

use crate::{ApiError, ApiState};

/// The bearer token of a request's `Authorization` header, if it has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The tenant a request's key names, as the cluster's routing looked it up (a request extension,
/// so [`Tenant`] does not look the key up again).
#[derive(Clone)]
pub(crate) struct KeyedTenant(pub(crate) Id);

/// The tenant whose key the request carries; every tenant route answers for it alone.
pub(crate) struct Tenant(pub(crate) Id);

impl FromRequestParts<ApiState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let tenant = match parts.extensions.get::<KeyedTenant>() {
            Some(KeyedTenant(tenant)) => tenant.clone(),
            None => {
                let key = bearer(&parts.headers).ok_or(ApiError::Unauthorized("missing bearer api key"))?;
                state.keys.tenant_of(key).ok_or(ApiError::Unauthorized("unknown api key"))?
            }
        };
        state.limits.check(&tenant).map_err(ApiError::TooManyRequests)?;
        Ok(Tenant(tenant))
    }
}

/// Proof that the request carries the admin token.
pub(crate) struct Admin;

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthorized("missing bearer admin token"))?;
        if state.admin_token.matches(token) { Ok(Admin) } else { Err(ApiError::Unauthorized("wrong admin token")) }
    }
}
