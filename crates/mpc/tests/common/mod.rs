//! Problems shared by the MPC's integration tests.
#![allow(dead_code)]

use nalgebra::{SVector, Vector1, Vector4};
use recede_model::robots::CartPole;
use recede_model::{Discretized, Rk4};
use recede_mpc::{Mpc, MpcConfig, OcpSpec};

pub type CartPoleModel = Discretized<CartPole>;

/// P1 of docs/benchmarks.md: cart-pole swing-up, N = 40, dt = 0.02 s.
pub const P1_TOML: &str = r#"
horizon_steps = 40
dt_secs = 0.02
state_weights = [1e3, 1e3, 1e-2, 1e-2]
input_weights = [1e-2]
input_min = [-80.0]
input_max = [80.0]
"#;

pub const P1_DT_SECS: f64 = 0.02;
pub const P1_FORCE_LIMIT_N: f64 = 80.0;

pub fn p1_config() -> MpcConfig {
    toml::from_str(P1_TOML).expect("P1 config parses")
}

pub fn p1_spec() -> OcpSpec<4, 1> {
    p1_config().to_spec().expect("P1 config is valid")
}

pub fn p1_x0() -> Vector4<f64> {
    Vector4::new(0.0, std::f64::consts::PI, 0.0, 0.0)
}

pub fn cartpole_model(dt_secs: f64) -> CartPoleModel {
    Discretized::new(CartPole::default(), Rk4::new(dt_secs, 1))
}

/// P1's controller: first guess x0 at every node and zero force, zero
/// reference.
pub fn p1_mpc(spec: OcpSpec<4, 1>) -> Mpc<CartPoleModel, (), 4, 1> {
    let mut mpc = Mpc::new(
        cartpole_model(P1_DT_SECS),
        (),
        spec,
        &p1_x0(),
        &Vector1::zeros(),
    )
    .expect("P1 controller builds");
    mpc.set_constant_reference(&SVector::zeros(), &SVector::zeros());
    mpc
}

/// P1's plant: the same model, 10 RK4 steps of 2 ms per control period.
pub fn p1_plant_step(x: &Vector4<f64>, u: &Vector1<f64>) -> Vector4<f64> {
    let rk4 = Rk4::new(0.002, 1);
    let mut x = *x;
    for _ in 0..10 {
        x = rk4.step(&CartPole::default(), &x, u);
    }
    x
}

/// `x'Qx + u'Ru` with P1's weights.
pub fn p1_stage_cost(x: &Vector4<f64>, u: &Vector1<f64>) -> f64 {
    1e3 * (x[0] * x[0] + x[1] * x[1]) + 1e-2 * (x[2] * x[2] + x[3] * x[3]) + 1e-2 * u[0] * u[0]
}
