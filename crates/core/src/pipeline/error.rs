//! Why the pipeline did not produce an answer, by step. Turning these into HTTP statuses and
//! bodies is the server's job (its one error mapping), not the pipeline's.

use switchyard_protocol::openai::RequestFormatError;
use switchyard_providers::ProviderError;

use crate::admit::AdmitError;
use crate::govern::AuthError;
use crate::route::RouteError;

#[derive(Debug)]
pub enum PipelineError {
    /// The request body could not be read.
    Body(BodyError),
    Unauthenticated(AuthError),
    InvalidRequest(RequestFormatError),
    UnknownModel(RouteError),
    Admission(AdmitError),
    Provider(ProviderError),
}

#[derive(Debug)]
pub enum BodyError {
    TooLarge {
        limit: usize,
    },
    Unreadable(String),
    /// The whole body did not arrive within this long.
    TimedOut {
        after: std::time::Duration,
    },
    /// An API translated before the pipeline (the Responses API) found the body invalid.
    Invalid(RequestFormatError),
    /// `previous_response_id` names no response this caller's tenant stored.
    UnknownResponse {
        id: String,
    },
    /// The stored response to continue from could not be read.
    StoreUnavailable(String),
}

impl From<BodyError> for PipelineError {
    fn from(e: BodyError) -> Self {
        PipelineError::Body(e)
    }
}
impl From<AuthError> for PipelineError {
    fn from(e: AuthError) -> Self {
        PipelineError::Unauthenticated(e)
    }
}
impl From<RequestFormatError> for PipelineError {
    fn from(e: RequestFormatError) -> Self {
        PipelineError::InvalidRequest(e)
    }
}
impl From<RouteError> for PipelineError {
    fn from(e: RouteError) -> Self {
        PipelineError::UnknownModel(e)
    }
}
impl From<AdmitError> for PipelineError {
    fn from(e: AdmitError) -> Self {
        PipelineError::Admission(e)
    }
}
