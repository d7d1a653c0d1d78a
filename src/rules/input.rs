//! What rules and commands read values from: the request and, for a hook with
//! `registry-event`, the one image push a job is about. A delivery with several pushes is
//! read push by push through one `Input` each, without copying or changing the request.

use std::borrow::Cow;

use crate::config::Parameter;
use crate::registry::ImagePush;
use crate::request::params::{self, Found};
use crate::request::{HookRequest, ParamError, ParamErrorKind};

/// A request, and the image push it is read for (registry-event hooks only).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub request: &'a HookRequest,
    pub push: Option<&'a ImagePush>,
}

impl<'a> Input<'a> {
    /// The request of a hook without registry events.
    pub fn request(request: &'a HookRequest) -> Self {
        Input {
            request,
            push: None,
        }
    }

    /// One image push of a registry delivery.
    pub fn push(request: &'a HookRequest, push: &'a ImagePush) -> Self {
        Input {
            request,
            push: Some(push),
        }
    }

    /// The value of `param`, as the string a rule compares or a command receives (borrowed
    /// where the request holds it as it is: see `params::get`). Event values come from the
    /// push; everything else from the request.
    pub fn value<'p>(&self, param: &'p Parameter) -> Result<Cow<'p, str>, ParamError>
    where
        'a: 'p,
    {
        match param {
            Parameter::Event(_) => self.find(param).and_then(Found::render),
            _ => params::get(param, self.request),
        }
    }

    /// The value of `param`, found but not rendered yet (see `params::find`).
    pub fn find<'p>(&self, param: &'p Parameter) -> Result<Found<'p>, ParamError>
    where
        'a: 'p,
    {
        match param {
            Parameter::Event(name) => self
                .push
                .and_then(|push| push.get(name))
                .map(Found::Text)
                .ok_or_else(|| ParamError {
                    kind: ParamErrorKind::NotFound,
                    name: name.clone(),
                }),
            _ => params::find(param, self.request),
        }
    }
}
