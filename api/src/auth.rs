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
                state.keys.resolve(key).await.ok_or(ApiError::Unauthorized("unknown api key"))?.0
            }
        };
        state.limits.check(&tenant).map_err(ApiError::TooManyRequests)?;
        Ok(Tenant(tenant))
    }
}

/// The tenant whose key the request carries, and that key's id: for the routes whose actions are
/// audited, which name the key that acted ([`crate::audit::Actor::Key`]). Rate-limited as
/// [`Tenant`] is (a handler takes one or the other, never both).
pub(crate) struct KeyHolder {
    /// The key's tenant.
    pub(crate) tenant_id: Id,
    /// The key's public id.
    pub(crate) key_id: String,
}

impl KeyHolder {
    /// The key, as the actor of an audit record.
    pub(crate) fn actor(&self) -> crate::audit::Actor {
        crate::audit::Actor::Key(self.key_id.clone())
    }
}

impl FromRequestParts<ApiState> for KeyHolder {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let key = bearer(&parts.headers).ok_or(ApiError::Unauthorized("missing bearer api key"))?;
        let (tenant_id, key_id) = state.keys.resolve(key).await.ok_or(ApiError::Unauthorized("unknown api key"))?;
        state.limits.check(&tenant_id).map_err(ApiError::TooManyRequests)?;
        Ok(KeyHolder { tenant_id, key_id })
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
