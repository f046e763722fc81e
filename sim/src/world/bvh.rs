use super::ray::{Aabb, Ray};

/// A binary bounding-volume hierarchy over a set of boxes (one per object),
/// split at the median of the longest axis. Rebuilt whenever objects move;
/// for tens of objects that costs microseconds.
#[derive(Debug, Clone, Default)]
pub struct Bvh {
    nodes: Vec<Node>,
    /// Object indices, grouped by leaf.
    order: Vec<u32>,
    /// Each object's own box, tested before the object itself.
    boxes: Vec<Aabb>,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    aabb: Aabb,
    /// Leaf: `count > 0`, objects `order[first..first + count]`.
    /// Inner: `count == 0`, children at `first` and `first + 1`.
    first: u32,
    count: u32,
}

const LEAF_SIZE: usize = 2;
const MAX_DEPTH: usize = 48;

impl Bvh {
    /// Builds the hierarchy over `boxes` (object `i` has `boxes[i]`).
    pub fn build(boxes: &[Aabb]) -> Self {
        let mut bvh = Bvh {
            nodes: Vec::with_capacity(2 * boxes.len()),
            order: (0..boxes.len() as u32).collect(),
            boxes: boxes.to_vec(),
        };
        if !boxes.is_empty() {
            bvh.nodes.push(Node {
                aabb: Aabb::empty(),
                first: 0,
                count: 0,
            });
            bvh.split(0, 0, boxes.len(), boxes, 0);
        }
        bvh
    }

    fn split(&mut self, node: usize, start: usize, end: usize, boxes: &[Aabb], depth: usize) {
        let aabb = self.order[start..end]
            .iter()
            .fold(Aabb::empty(), |acc, &i| acc.union(&boxes[i as usize]));
        self.nodes[node].aabb = aabb;
        if end - start <= LEAF_SIZE || depth >= MAX_DEPTH {
            self.nodes[node].first = start as u32;
            self.nodes[node].count = (end - start) as u32;
            return;
        }
        let extent = aabb.max - aabb.min;
        let axis = extent.imax();
        self.order[start..end].sort_by(|&a, &b| {
            let ca = boxes[a as usize].center()[axis];
            let cb = boxes[b as usize].center()[axis];
            ca.total_cmp(&cb)
        });
        let mid = (start + end) / 2;
        let left = self.nodes.len();
        let empty = Node {
            aabb: Aabb::empty(),
            first: 0,
            count: 0,
        };
        self.nodes.push(empty);
        self.nodes.push(empty);
        self.nodes[node].first = left as u32;
        self.nodes[node].count = 0;
        self.split(left, start, mid, boxes, depth + 1);
        self.split(left + 1, mid, end, boxes, depth + 1);
    }

    /// Calls `visit(object, t_max)` for every object whose box the ray enters
    /// before the current `t_max`; `visit` returns the new `t_max` (shorter
    /// when it found a nearer hit), so farther subtrees are skipped.
    #[inline]
    pub fn traverse(
        &self,
        ray: &Ray,
        mut t_max: f64,
        mut visit: impl FnMut(usize, f64) -> f64,
    ) -> f64 {
        if self.nodes.is_empty() {
            return t_max;
        }
        let inv = ray.dir.map(|d| 1.0 / d);
        let mut stack = [0u32; MAX_DEPTH + 2];
        let mut top = 1;
        while top > 0 {
            top -= 1;
            let node = self.nodes[stack[top] as usize];
            if node.aabb.hit(ray, &inv, t_max).is_none() {
                continue;
            }
            if node.count > 0 {
                let first = node.first as usize;
                for &obj in &self.order[first..first + node.count as usize] {
                    if self.boxes[obj as usize].hit(ray, &inv, t_max).is_some() {
                        t_max = visit(obj as usize, t_max);
                    }
                }
            } else {
                // Visit the nearer child first.
                let (a, b) = (node.first, node.first + 1);
                let ta = self.nodes[a as usize].aabb.hit(ray, &inv, t_max);
                let tb = self.nodes[b as usize].aabb.hit(ray, &inv, t_max);
                let (near, far) = match (ta, tb) {
                    (Some(x), Some(y)) if y < x => (Some(b), Some(a)),
                    (Some(_), Some(_)) => (Some(a), Some(b)),
                    (Some(_), None) => (Some(a), None),
                    (None, Some(_)) => (Some(b), None),
                    (None, None) => (None, None),
                };
                if let Some(f) = far {
                    stack[top] = f;
                    top += 1;
                }
                if let Some(n) = near {
                    stack[top] = n;
                    top += 1;
                }
            }
        }
        t_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Point3, Vector3};

    #[test]
    fn traversal_visits_exactly_the_boxes_on_the_ray() {
        let boxes: Vec<Aabb> = (0..20)
            .map(|i| {
                let c = Point3::new(i as f64 * 3.0, if i % 2 == 0 { 0.0 } else { 5.0 }, 0.0);
                Aabb {
                    min: c - Vector3::repeat(0.5),
                    max: c + Vector3::repeat(0.5),
                }
            })
            .collect();
        let bvh = Bvh::build(&boxes);
        let ray = Ray::new(Point3::new(-10.0, 0.0, 0.0), Vector3::x());
        let mut seen = Vec::new();
        bvh.traverse(&ray, 1e9, |i, t| {
            seen.push(i);
            t
        });
        seen.sort();
        let expected: Vec<usize> = (0..20).filter(|i| i % 2 == 0).collect();
        assert_eq!(seen, expected);
    }
}
