use nalgebra::{SVector, Vector1, Vector4};
use recede_model::robots::CartPole;
use recede_model::{Discretized, Rk4};
use recede_mpc::{Mpc, MpcConfig};

fn main() {
    let cfg: MpcConfig = toml::from_str(
        r#"
horizon_steps = 40
dt_secs = 0.02
state_weights = [1e3, 1e3, 1e-2, 1e-2]
input_weights = [1e-2]
input_min = [-80.0]
input_max = [80.0]
"#,
    )
    .unwrap();
    let spec = cfg.to_spec::<4, 1>().unwrap();
    let model = Discretized::new(CartPole::default(), Rk4::new(0.02, 1));
    let plant = Rk4::new(0.002, 1);
    let mut x = Vector4::new(0.0, std::f64::consts::PI, 0.0, 0.0);
    let mut mpc = Mpc::new(model, (), spec, &x, &Vector1::zeros()).unwrap();
    mpc.set_constant_reference(&SVector::zeros(), &SVector::zeros());
    let mut cost = 0.0;
    let mut u = Vector1::zeros();
    let mut times = vec![];
    let mut iters = vec![];
    for _ in 0..200 {
        let t = std::time::Instant::now();
        let rep = mpc.step(&x, 0.02, &mut u);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        iters.push(rep.qp_iterations);
        if rep.outcome != recede_mpc::StepOutcome::Solved
            || times.last().copied().unwrap_or(0.0) > 300.0
        {
            println!("{:.0} {:?}", times.last().unwrap(), rep);
        }
        cost += 1e3 * (x[0] * x[0] + x[1] * x[1])
            + 1e-2 * (x[2] * x[2] + x[3] * x[3])
            + 1e-2 * u[0] * u[0];
        for _ in 0..10 {
            x = plant.step(&CartPole::default(), &x, &u);
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    iters.sort();
    println!(
        "final {x:?}\ncost {cost}\nmedian {} p99 {} max {}\niters median {} max {}",
        times[100], times[198], times[199], iters[100], iters[199]
    );
}
