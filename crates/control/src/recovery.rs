//! What each robot does when no plan can be trusted, and how far its
//! reference may lead it: the robot-specific halves of the MPC's fallback
//! ladder and reference governor (`recede_mpc::GovernorConfig`).

use nalgebra::{Matrix4, SVector, Vector3, Vector4};
use recede_model::robots::quadrotor::{rotation_from_quaternion, BODY_RATE, QUATERNION};
use recede_model::robots::{
    Arm, CartPole, ContinuumArm, DiffDrive, Quadrotor, Robot, SoftCartPole,
};
use recede_model::DiscreteModel;
use recede_mpc::{GovernorConfig, Mpc, SafePolicy, StageConstraints, UpsetTest};

/// A robot's halves of the ladder and the governor; the defaults (no
/// governor, the constant safe input, never upset) suit a robot that cannot
/// tip over, so a new robot in the list needs one empty `impl`.
pub trait Recovery<const NX: usize, const NU: usize>: Robot<NX, NU> {
    /// The governor over the first `dims` states (a position) used when
    /// `[controller.governor]` is absent.
    const GOVERNOR: Option<(usize, Governor)> = None;

    /// Installs a state-dependent safe policy and an upset test (setup only:
    /// they allocate).
    fn install_recovery<M, C>(&self, _mpc: &mut Mpc<M, C, NX, NU>)
    where
        M: DiscreteModel<NX, NU>,
        C: StageConstraints<NX>,
    {
    }
}

impl Recovery<4, 1> for CartPole {
    const GOVERNOR: Option<(usize, Governor)> = Some((1, CART_POLE_GOVERNOR));
}

impl Recovery<13, 4> for Quadrotor {
    const GOVERNOR: Option<(usize, Governor)> = Some((3, QUADROTOR_GOVERNOR));

    fn install_recovery<M, C>(&self, mpc: &mut Mpc<M, C, 13, 4>)
    where
        M: DiscreteModel<13, 4>,
        C: StageConstraints<13>,
    {
        let safe = mpc.spec().safe_input;
        mpc.set_safe_policy(quadrotor_recovery(*self, safe));
        mpc.set_upset_test(quadrotor_upset());
    }
}

/// Its speed limits already pace it (see [`QUADROTOR_GOVERNOR`]).
impl Recovery<5, 2> for DiffDrive {}

/// Fixed to its base: joint targets are bounded by the joint limits.
impl Recovery<4, 2> for Arm {}

/// Clamped at its base; tension bounds keep it within its range.
impl Recovery<6, 6> for ContinuumArm {}

/// The cart-pole's governor: the cart carries its link as P1's carries its
/// pole (velocity at index 5 of the soft state).
impl Recovery<10, 1> for SoftCartPole {
    const GOVERNOR: Option<(usize, Governor)> = Some((
        1,
        Governor {
            velocity: Some(5),
            ..CART_POLE_GOVERNOR
        },
    ));
}

/// Default governors, used when `[controller.governor]` is absent: a
/// target that starts at the robot and moves to the goal at `speed`, at
/// most `max_lead` ahead. Each lead is above the tracking errors of the
/// shipped tracking scenarios (the figure-eight's are centimetres), so
/// those runs are unchanged. Measured (crates/control/tests/large_steps.rs,
/// 1 to 100 m steps): P2's controller, the most aggressive shipped, tilts
/// at most 0.95 rad at 2 m/s (1.30 at 3 m/s; a fixed 1.5 m ball without a
/// speed tilted it past 90 degrees), the pillars controller 0.77; the
/// cart-pole's pole leans at most 0.58 rad carried at 2 m/s. The ground
/// robot has none: its speed limits already pace it (a 50 m step is
/// reached without one), and its speed is a body-frame state.
pub const QUADROTOR_GOVERNOR: Governor = Governor {
    max_lead: 1.0,
    speed: 2.0,
    velocity: Some(7),
};
pub const CART_POLE_GOVERNOR: Governor = Governor {
    max_lead: 1.0,
    speed: 2.0,
    velocity: Some(2),
};

/// A robot's default governor over its first `dims` states (a position).
#[derive(Debug, Clone, Copy)]
pub struct Governor {
    pub max_lead: f64,
    pub speed: f64,
    /// First index of the position's rates in the state, if the state has
    /// them in the same frame.
    pub velocity: Option<usize>,
}

/// `governor` over the first `dims` states.
pub fn position_governor(dims: usize, governor: Governor) -> GovernorConfig {
    GovernorConfig {
        indices: (0..dims).collect(),
        max_lead: governor.max_lead,
        speed: Some(governor.speed),
        velocity_indices: governor
            .velocity
            .map(|v| (v..v + dims).collect())
            .unwrap_or_default(),
    }
}

/// Attitude recovery for the quadrotor: torques that turn the body's z
/// axis back up and damp the body rates (a PD on the tilt), on top of the
/// configured safe thrusts, whose sum is scaled by `1 / cos(tilt)` up to
/// 60 degrees and cut to a quarter beyond 90 (thrust while inverted drives
/// the vehicle down). Level and at rest it is the configured safe input.
pub fn quadrotor_recovery(model: Quadrotor, safe: SVector<f64, 4>) -> SafePolicy<13, 4> {
    /// Tilt stiffness and rate damping, rad/s^2 per rad and per rad/s
    /// (critically damped at 6 rad/s).
    const KP: f64 = 36.0;
    const KD: f64 = 12.0;
    let p = model.params;
    let inertia = Vector3::new(p.inertia_xx_kg_m2, p.inertia_yy_kg_m2, p.inertia_zz_kg_m2);
    // [collective; torque] = mix f: invertible for any positive arm length.
    let mut mix = Matrix4::zeros();
    for i in 0..4 {
        let mut unit = SVector::<f64, 4>::zeros();
        unit[i] = 1.0;
        let tau = model.body_torque(&unit);
        mix.set_column(i, &Vector4::new(1.0, tau[0], tau[1], tau[2]));
    }
    let unmix = mix.try_inverse().unwrap_or_else(Matrix4::zeros);
    let collective: f64 = safe.sum();
    Box::new(move |x: &SVector<f64, 13>| {
        let q = x.fixed_rows::<4>(QUATERNION).into_owned();
        let norm = q.norm();
        if norm.is_nan() || norm <= 1e-9 {
            return safe;
        }
        let r = rotation_from_quaternion(&(q / norm));
        // World up in the body frame.
        let up = r.row(2).transpose();
        let axis = Vector3::new(-up[1], up[0], 0.0);
        let sin = axis.norm();
        let angle = sin.atan2(up[2]);
        let axis = if sin > 1e-9 { axis / sin } else { Vector3::x() };
        let w = x.fixed_rows::<3>(BODY_RATE).into_owned();
        let accel = axis * (KP * angle) - w * KD;
        let tau = accel.component_mul(&inertia);
        let thrust = if up[2] > 0.5 {
            collective / up[2]
        } else if up[2] > 0.0 {
            2.0 * collective
        } else {
            0.25 * collective
        };
        safe + unmix * Vector4::new(thrust - collective, tau[0], tau[1], tau[2])
    })
}

/// Tilt from the vertical, rad: `cos = 1 - 2 (q_x^2 + q_y^2)` (of the
/// normalised quaternion).
pub fn quadrotor_tilt(x: &SVector<f64, 13>) -> f64 {
    let q = x.fixed_rows::<4>(QUATERNION);
    let n2 = q.norm_squared();
    if n2.is_nan() || n2 <= 0.0 {
        return 0.0;
    }
    let (qx, qy) = (q[1], q[2]);
    (1.0 - 2.0 * (qx * qx + qy * qy) / n2)
        .clamp(-1.0, 1.0)
        .acos()
}

/// The quadrotor is upset beyond 75 degrees of tilt, and stays so until it
/// is back within 20 degrees with body rates under 1 rad/s: beyond that
/// the MPC's linearisation around the plan no longer describes the way
/// back, and a tumbling vehicle held at hover thrust falls.
pub fn quadrotor_upset() -> UpsetTest<13> {
    Box::new(|x: &SVector<f64, 13>, was: bool| {
        let tilt = quadrotor_tilt(x);
        let rates = x.fixed_rows::<3>(BODY_RATE).norm();
        if was {
            tilt > 0.35 || rates > 1.0
        } else {
            tilt > 1.3
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(q: [f64; 4], w: [f64; 3]) -> SVector<f64, 13> {
        let mut x = Quadrotor::hover_state([0.0, 0.0, 5.0]);
        x.fixed_rows_mut::<4>(QUATERNION).copy_from_slice(&q);
        x.fixed_rows_mut::<3>(BODY_RATE).copy_from_slice(&w);
        x
    }

    #[test]
    fn level_is_the_safe_input_and_inverted_is_not_hover_thrust() {
        let model = Quadrotor::default();
        let hover = model.hover_input();
        let policy = quadrotor_recovery(model, hover);
        let level = policy(&state([1.0, 0.0, 0.0, 0.0], [0.0; 3]));
        assert!((level - hover).norm() < 1e-12, "{level}");
        // Upside down (180 degrees about x), at rest: far less thrust, and
        // a torque about x.
        let inverted = policy(&state([0.0, 1.0, 0.0, 0.0], [0.0; 3]));
        assert!(inverted.sum() < 0.5 * hover.sum(), "{inverted}");
        let tau = model.body_torque(&inverted);
        assert!(tau[0].abs() > 1e-3, "{tau}");
        // Rolled by 0.3 rad about x: the torque turns it back (negative x).
        let (s, c) = (0.15f64.sin(), 0.15f64.cos());
        let tilted = policy(&state([c, s, 0.0, 0.0], [0.0; 3]));
        assert!(model.body_torque(&tilted)[0] < 0.0);
        assert!(tilted.sum() > hover.sum());
        // Spinning about z: the yaw torque opposes it.
        let spinning = policy(&state([1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0]));
        assert!(model.body_torque(&spinning)[2] < 0.0);
    }
}
