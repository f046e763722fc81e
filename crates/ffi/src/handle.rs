//! The handle behind the opaque pointer, and creating and destroying it.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use recede_control::guidance::ObstacleConstraintConfig;
use recede_control::{Controller, ControllerConfig, ResidualConfig};
use recede_model::robots::RobotConfig;
use serde::Deserialize;

use crate::guard::Fault;
use crate::message::Message;
use crate::params::Parameters;
use crate::status::{RecedeDimensions, RecedeStatus};

/// The largest state or input dimension of the built-in robots the interface
/// copies through its stack buffers.
pub const RECEDE_MAX_DIMENSION: usize = 16;

/// Where a handle is in the real-time iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A QP is prepared: the next call is a feedback (or a step).
    Prepared,
    /// A feedback used the prepared QP: the next call is a preparation.
    FedBack,
}

/// A controller behind an opaque pointer.
#[derive(Debug)]
pub struct RecedeController {
    pub(crate) controller: Controller,
    pub(crate) dims: RecedeDimensions,
    /// The robot's parameters as last set (the model's copy).
    pub(crate) robot: RobotConfig,
    pub(crate) parameters: Parameters,
    pub(crate) phase: Phase,
    /// A setter changed what the prepared QP was built from (weights,
    /// state bounds, obstacles, parameters): the next feedback rebuilds it
    /// first, without shifting the plan.
    pub(crate) stale: bool,
    pub(crate) steps: u64,
    pub(crate) time_secs: f64,
    pub(crate) refresh_secs: f64,
    pub(crate) poisoned: bool,
    pub(crate) message: Message,
    /// The caller's buffer holding this handle and everything it
    /// allocated (`recede_create_from_blob_in_buffer`), or null.
    #[cfg(feature = "caller-memory")]
    pub(crate) arena: *mut crate::arena::Arena,
}

/// What creation needs, however it was described (TOML text or a blob).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Description {
    pub robot: RobotConfig,
    pub controller: ControllerConfig,
    /// `[perception.constraints]`: keep-out rows for obstacles set from C.
    pub obstacles: Option<ObstacleConstraintConfig>,
}

/// The tables of a scenario file creation reads; the rest is ignored.
#[derive(Deserialize)]
struct ScenarioTables {
    robot: RobotConfig,
    controller: ControllerConfig,
    #[serde(default)]
    perception: Option<PerceptionTables>,
}

#[derive(Deserialize)]
struct PerceptionTables {
    #[serde(default)]
    constraints: Option<ObstacleConstraintConfig>,
}

impl Description {
    /// Reads the `[robot]`, `[controller]` and optional
    /// `[perception.constraints]` tables of a scenario file.
    pub(crate) fn from_toml(text: &str, origin: &str) -> Result<Self, String> {
        let tables: ScenarioTables = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        Ok(Self {
            robot: tables.robot,
            controller: tables.controller,
            obstacles: tables.perception.and_then(|p| p.constraints),
        })
    }
}

/// Builds the handle (boxed: its address is the C handle).
pub(crate) fn build(
    description: &Description,
    x0: &[f64],
    message: &mut Message,
) -> Result<Box<RecedeController>, RecedeStatus> {
    let fail = |message: &mut Message, fault: Fault| {
        message.set(&fault);
        fault.status()
    };
    let robot = &description.robot;
    // A robot file that does not load has no sizes: say why before any
    // length check would blame the caller's x0.
    if let Err(e) = robot.validate() {
        message.set(format_args!("robot: {e}"));
        return Err(RecedeStatus::Config);
    }
    let (nx, nu) = robot.dimensions();
    if nx > RECEDE_MAX_DIMENSION || nu > RECEDE_MAX_DIMENSION {
        message.set(format_args!(
            "robot `{}` has {nx} states and {nu} inputs; the interface handles at most {RECEDE_MAX_DIMENSION}",
            robot.kind()
        ));
        return Err(RecedeStatus::Config);
    }
    if x0.len() != nx {
        let fault = Fault::Length {
            what: "x0",
            expected: nx,
            got: x0.len(),
        };
        return Err(fail(message, fault));
    }
    let obstacles = description
        .obstacles
        .as_ref()
        .filter(|_| robot.position_states() > 0);
    let controller = Controller::with_obstacles(
        robot,
        &description.controller.mpc,
        description.controller.residual.as_ref(),
        obstacles,
        x0,
    )
    .map_err(|e| fail(message, Fault::Control(e)))?;
    let parameters = Parameters::of(robot).map_err(|e| {
        message.set(format_args!("robot parameters: {e}"));
        RecedeStatus::Config
    })?;
    let (nx, nu, horizon) = controller.dimensions();
    let dims = RecedeDimensions {
        nx,
        nu,
        horizon,
        reference_len: (horizon + 1) * nx,
        input_reference_len: horizon * nu,
        period_secs: controller.period_secs(),
        dt_secs: controller.dt_secs(),
        state_bounds: controller.state_bound_count(),
        obstacle_slots: obstacles.map_or(0, |o| o.max_obstacles),
        parameters: parameters.len(),
    };
    Ok(Box::new(RecedeController {
        controller,
        dims,
        robot: robot.clone(),
        parameters,
        phase: Phase::Prepared,
        stale: false,
        steps: 0,
        time_secs: f64::NAN,
        refresh_secs: 0.0,
        poisoned: false,
        message: Message::new(),
        #[cfg(feature = "caller-memory")]
        arena: std::ptr::null_mut(),
    }))
}

/// Runs a creation body, catching panics; on failure NULLs `*out` and
/// copies the message into `error`.
///
/// # Safety
/// `out` NULL or valid for one write; `error` NULL or valid for
/// `error_len` bytes.
pub(crate) unsafe fn guarded_create(
    out: *mut *mut RecedeController,
    error: *mut c_char,
    error_len: usize,
    body: impl FnOnce(&mut Message) -> Result<Box<RecedeController>, RecedeStatus>,
) -> RecedeStatus {
    let mut message = Message::new();
    let fail = |message: &mut Message, fault: Fault| {
        message.set(&fault);
        fault.status()
    };
    let status = if out.is_null() {
        fail(&mut message, Fault::Null("out"))
    } else if !out.is_aligned() {
        fail(&mut message, Fault::Misaligned("out"))
    } else {
        match catch_unwind(AssertUnwindSafe(|| body(&mut message))) {
            Ok(Ok(handle)) => {
                // SAFETY: checked non-NULL and aligned above.
                unsafe { out.write(Box::into_raw(handle)) };
                RecedeStatus::Ok
            }
            Ok(Err(status)) => status,
            Err(_) => {
                message
                    .set("internal panic caught at the C boundary while creating the controller");
                RecedeStatus::Panicked
            }
        }
    };
    if status != RecedeStatus::Ok {
        if !out.is_null() && out.is_aligned() {
            // SAFETY: `out` is valid for one write per the contract.
            unsafe { out.write(std::ptr::null_mut()) };
        }
        // SAFETY: `error` is NULL or valid for `error_len` bytes.
        unsafe { message.copy_out(error, error_len) };
    }
    status
}

/// The initial state, checked.
///
/// # Safety
/// `x0` NULL or valid for `x0_len` reads.
pub(crate) unsafe fn initial_state<'a>(
    x0: *const f64,
    x0_len: usize,
    message: &mut Message,
) -> Result<&'a [f64], RecedeStatus> {
    if x0.is_null() {
        message.set(Fault::Null("x0"));
        return Err(RecedeStatus::NullPointer);
    }
    if !x0.is_aligned() {
        message.set(Fault::Misaligned("x0"));
        return Err(RecedeStatus::NullPointer);
    }
    // SAFETY: non-NULL and aligned; `x0_len` readable values per the contract.
    let x0 = unsafe { std::slice::from_raw_parts(x0, x0_len) };
    if let Some(index) = x0.iter().position(|v| !v.is_finite()) {
        message.set(Fault::NonFinite { what: "x0", index });
        return Err(RecedeStatus::NonFinite);
    }
    Ok(x0)
}

/// Builds a controller from the `[robot]` and `[controller]` tables of a
/// scenario file (`toml`, `toml_len` bytes of UTF-8, no NUL needed), and
/// keep-out rows from `[perception.constraints]` when present; other tables
/// are ignored. `x0` (`x0_len` = nx values) is used at every node of the
/// first plan.
///
/// `residual_path` is NULL or a learned residual model file (safetensors,
/// format in crates/learn/README.md) added to the robot's physics; it
/// overrides a `[controller.residual] model` given in the TOML. Relative
/// paths are taken from the process's working directory. A file that is
/// missing, corrupt or made for another robot is `RECEDE_STATUS_CONFIG`
/// with the path in the message.
///
/// On success `*out` receives the handle; on failure `*out` is set to NULL
/// and, when `error` is not NULL, up to `error_len - 1` bytes of the message
/// are written there, NUL-terminated.
///
/// Allocates: parses the TOML text (a few hundred allocations) and builds
/// the controller and OSQP's workspace. Not real-time; thread-safe (no
/// shared state). For a target without a text parser, see
/// `recede_create_from_blob`.
///
/// # Safety
/// Non-NULL pointers must be valid for their lengths; `out` for one write;
/// `residual_path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn recede_create(
    toml: *const u8,
    toml_len: usize,
    x0: *const f64,
    x0_len: usize,
    residual_path: *const c_char,
    out: *mut *mut RecedeController,
    error: *mut c_char,
    error_len: usize,
) -> RecedeStatus {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        recede_create_in(
            toml,
            toml_len,
            std::ptr::null(),
            x0,
            x0_len,
            residual_path,
            out,
            error,
            error_len,
        )
    }
}

/// `recede_create`, with the files the `[robot]` table names (`kind =
/// "model_file"` or `"urdf"`: its `path`) taken relative to `base_dir`:
/// pass the scenario file's directory, as `recede run` reads it. `base_dir`
/// NULL (what `recede_create` passes) takes them from the process's
/// working directory. Absolute paths are used as they are; the residual
/// path is not affected.
///
/// Allocates (as `recede_create`, plus reading the robot's files); not
/// real-time; thread-safe (no shared state).
///
/// # Safety
/// As `recede_create`; `base_dir` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn recede_create_in(
    toml: *const u8,
    toml_len: usize,
    base_dir: *const c_char,
    x0: *const f64,
    x0_len: usize,
    residual_path: *const c_char,
    out: *mut *mut RecedeController,
    error: *mut c_char,
    error_len: usize,
) -> RecedeStatus {
    let body = |message: &mut Message| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let base = unsafe { optional_path(base_dir, "base_dir", message) }?;
        if toml.is_null() {
            message.set(Fault::Null("toml"));
            return Err(RecedeStatus::NullPointer);
        }
        // SAFETY: forwarded from this function's contract.
        let x0 = unsafe { initial_state(x0, x0_len, message) }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let residual_override = unsafe { optional_path(residual_path, "residual_path", message) }?;
        // SAFETY: non-NULL; `toml_len` readable bytes per the contract.
        let bytes = unsafe { std::slice::from_raw_parts(toml, toml_len) };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            message.set(format_args!("toml buffer: not valid UTF-8: {e}"));
            RecedeStatus::Config
        })?;
        let mut description = Description::from_toml(text, "toml buffer").map_err(|e| {
            message.set(e);
            RecedeStatus::Config
        })?;
        if let Some(dir) = &base {
            description.robot = description.robot.resolved(dir);
        }
        if let Some(model) = residual_override {
            let table = description.controller.residual.take();
            description.controller.residual = Some(ResidualConfig {
                model,
                evaluation: table.as_ref().map(|r| r.evaluation).unwrap_or_default(),
                adaptation: table.and_then(|r| r.adaptation),
            });
        }
        build(&description, x0, message)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { guarded_create(out, error, error_len, body) }
}

/// An optional path argument: NULL is `None`; anything else must be
/// UTF-8 (the error names `name`).
///
/// # Safety
/// `ptr` NULL or NUL-terminated.
unsafe fn optional_path(
    ptr: *const c_char,
    name: &str,
    message: &mut Message,
) -> Result<Option<PathBuf>, RecedeStatus> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    match unsafe { CStr::from_ptr(ptr) }.to_str() {
        Ok(path) => Ok(Some(PathBuf::from(path))),
        Err(e) => {
            message.set(format_args!("{name}: not valid UTF-8: {e}"));
            Err(RecedeStatus::Config)
        }
    }
}

/// Frees a controller. NULL is ignored. The handle must not be used again.
/// Frees memory (not real-time); not to be called while another thread
/// uses the handle.
///
/// # Safety
/// `handle` is NULL or a pointer from `recede_create` not yet destroyed.
#[no_mangle]
pub unsafe extern "C" fn recede_destroy(handle: *mut RecedeController) {
    if handle.is_null() {
        return;
    }
    // SAFETY: the pointer came from `Box::into_raw` in `recede_create`.
    let boxed = unsafe { Box::from_raw(handle) };
    #[cfg(feature = "caller-memory")]
    let arena = boxed.arena;
    // A panic in a destructor would be a bug; it must not cross the boundary.
    let destroy = move || {
        let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
    };
    #[cfg(feature = "caller-memory")]
    if !arena.is_null() {
        // Its memory goes back to the caller's buffer, and the buffer to
        // the caller.
        crate::arena::within(arena, destroy);
        // SAFETY: nothing of the handle is used after its destruction.
        unsafe { crate::arena::Arena::release(arena) };
        return;
    }
    destroy();
}
