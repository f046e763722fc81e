//! Shared by the tests, the bench and the resources example: the four
//! robots' scenarios, a safe wrapper over the C interface, and plants.
#![allow(dead_code)]

use std::f64::consts::PI;
use std::ffi::c_char;

use nalgebra::SVector;
use recede_control::ControllerFile;
use recede_ffi::*;
use recede_model::robots::{Robot, RobotConfig, RobotVisitor};
use recede_model::{Dynamics, Rk4};

/// A robot's scenario and the closed loop it is measured on.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub toml: &'static str,
    pub x0: &'static [f64],
    /// The state reference at every node.
    pub target: &'static [f64],
    pub steps: usize,
}

pub const CART_POLE: Scenario = Scenario {
    name: "cart_pole",
    toml: include_str!("../data/cart_pole.toml"),
    x0: &[0.0, PI, 0.0, 0.0],
    target: &[0.0; 4],
    steps: 200,
};

pub const QUADROTOR: Scenario = Scenario {
    name: "quadrotor",
    toml: include_str!("../data/quadrotor.toml"),
    x0: &[
        1.0, -0.5, 1.5, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ],
    target: &[
        0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ],
    steps: 300,
};

pub const DIFF_DRIVE: Scenario = Scenario {
    name: "diff_drive",
    toml: include_str!("../data/diff_drive.toml"),
    x0: &[0.0; 5],
    target: &[2.0, 1.0, 0.0, 0.0, 0.0],
    steps: 200,
};

pub const ARM: Scenario = Scenario {
    name: "arm",
    toml: include_str!("../data/arm.toml"),
    x0: &[-PI / 2.0, 0.0, 0.0, 0.0],
    target: &[0.5, 0.5, 0.0, 0.0],
    steps: 200,
};

pub const ALL: [Scenario; 4] = [CART_POLE, QUADROTOR, DIFF_DRIVE, ARM];

impl Scenario {
    /// The reference window: `target` at nodes 0..=N.
    pub fn window(&self, horizon: usize) -> Vec<f64> {
        self.target.repeat(horizon + 1)
    }

    pub fn robot(&self) -> RobotConfig {
        ControllerFile::from_toml_str(self.toml, self.name)
            .expect("scenario parses")
            .robot
    }
}

/// Owns a handle from `recede_create`.
#[derive(Debug)]
pub struct Handle(pub *mut RecedeController);

impl Handle {
    pub fn create(toml: &str, x0: &[f64]) -> Result<Self, (RecedeStatus, String)> {
        let mut out = std::ptr::null_mut();
        let mut error = [0 as c_char; RECEDE_MESSAGE_CAPACITY];
        // SAFETY: every pointer is valid for the length passed with it.
        let status = unsafe {
            recede_create(
                toml.as_ptr(),
                toml.len(),
                x0.as_ptr(),
                x0.len(),
                std::ptr::null(),
                &mut out,
                error.as_mut_ptr(),
                error.len(),
            )
        };
        if status == RecedeStatus::Ok {
            assert!(!out.is_null());
            Ok(Self(out))
        } else {
            assert!(out.is_null(), "a failed create must leave *out NULL");
            Err((status, c_text(&error)))
        }
    }

    /// `recede_create_in`: the robot's files taken from `base_dir`.
    #[allow(dead_code)]
    pub fn create_in(
        toml: &str,
        base_dir: &str,
        x0: &[f64],
    ) -> Result<Self, (RecedeStatus, String)> {
        let base = std::ffi::CString::new(base_dir).expect("no NUL in the path");
        let mut out = std::ptr::null_mut();
        let mut error = [0 as c_char; RECEDE_MESSAGE_CAPACITY];
        // SAFETY: every pointer is valid for the length passed with it.
        let status = unsafe {
            recede_create_in(
                toml.as_ptr(),
                toml.len(),
                base.as_ptr(),
                x0.as_ptr(),
                x0.len(),
                std::ptr::null(),
                &mut out,
                error.as_mut_ptr(),
                error.len(),
            )
        };
        if status == RecedeStatus::Ok {
            assert!(!out.is_null());
            Ok(Self(out))
        } else {
            assert!(out.is_null(), "a failed create must leave *out NULL");
            Err((status, c_text(&error)))
        }
    }

    pub fn dims(&self) -> RecedeDimensions {
        let mut d = std::mem::MaybeUninit::uninit();
        // SAFETY: live handle, writable out.
        let status = unsafe { recede_dimensions(self.0, d.as_mut_ptr()) };
        assert_eq!(status, RecedeStatus::Ok);
        // SAFETY: written on Ok.
        unsafe { d.assume_init() }
    }

    /// `recede_step` on slices (reference NULL when `None`).
    pub fn step(
        &mut self,
        t: f64,
        x: &[f64],
        reference: Option<&[f64]>,
        u: &mut [f64],
    ) -> RecedeStatus {
        let (r, rl) = reference.map_or((std::ptr::null(), 0), |r| (r.as_ptr(), r.len()));
        // SAFETY: live handle; pointers valid for their lengths.
        unsafe {
            recede_step(
                self.0,
                t,
                x.as_ptr(),
                x.len(),
                r,
                rl,
                u.as_mut_ptr(),
                u.len(),
            )
        }
    }

    pub fn stats(&mut self) -> RecedeStats {
        let mut s = std::mem::MaybeUninit::uninit();
        // SAFETY: live handle, writable out.
        let status = unsafe { recede_last_stats(self.0, s.as_mut_ptr()) };
        assert_eq!(status, RecedeStatus::Ok);
        // SAFETY: written on Ok.
        unsafe { s.assume_init() }
    }

    pub fn reset(&mut self, x: &[f64]) -> RecedeStatus {
        // SAFETY: live handle; `x` valid for its length.
        unsafe { recede_reset(self.0, x.as_ptr(), x.len()) }
    }

    /// The last message, through a fixed buffer.
    pub fn message(&self) -> String {
        let mut buffer = [0 as c_char; RECEDE_MESSAGE_CAPACITY];
        // SAFETY: live handle; buffer valid for its length.
        unsafe { recede_last_error(self.0, buffer.as_mut_ptr(), buffer.len()) };
        c_text(&buffer)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: from `recede_create`, destroyed once.
        unsafe { recede_destroy(self.0) };
    }
}

pub fn c_text(buffer: &[c_char]) -> String {
    let bytes: Vec<u8> = buffer
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8(bytes).expect("messages are UTF-8")
}

fn rk4<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    model: &D,
    x: &mut [f64],
    u: &[f64],
    period_secs: f64,
    substeps: usize,
) {
    let rk4 = Rk4::new(period_secs, substeps);
    let next = rk4.step(
        model,
        &SVector::<f64, NX>::from_column_slice(x),
        &SVector::<f64, NU>::from_column_slice(u),
    );
    x.copy_from_slice(next.as_slice());
}

/// Advances the robot's nominal model (the plant, as in P1) by one control
/// period with RK4 steps of at most 2 ms.
pub fn plant_step(robot: &RobotConfig, x: &mut [f64], u: &[f64], period_secs: f64) {
    struct Step<'a> {
        x: &'a mut [f64],
        u: &'a [f64],
        period_secs: f64,
    }
    impl RobotVisitor for Step<'_> {
        type Output = ();
        fn visit<R: Robot<NX, NU>, const NX: usize, const NU: usize>(self, robot: R) {
            let substeps = (self.period_secs / 0.002).ceil().max(1.0) as usize;
            rk4(&robot, self.x, self.u, self.period_secs, substeps);
        }
    }
    robot
        .visit(Step { x, u, period_secs })
        .expect("the scenario's robot parameters are valid");
}
