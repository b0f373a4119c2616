use std::cmp::Ordering;

use jrsonnet_evaluator::{
	Either, IStr, Result, Thunk, Val, function::builtin, typed::Either2, val::ArrValue,
};

use crate::keyf::KeyF;

#[builtin]
#[allow(non_snake_case)]
pub fn builtin_set_member(x: Thunk<Val>, arr: ArrValue, #[default] keyF: KeyF) -> Result<bool> {
	let mut low = 0;
	let mut high = arr.len();

	let x = keyF.eval(x)?;

	while low < high {
		let middle = u32::midpoint(high, low);
		let comp = keyF.eval(arr.get_lazy(middle).expect("in bounds"))?;
		match Val::try_cmp(&comp, &x)? {
			Ordering::Less => low = middle + 1,
			Ordering::Equal => return Ok(true),
			Ordering::Greater => high = middle,
		}
	}
	Ok(false)
}

#[builtin]
#[allow(non_snake_case, clippy::redundant_closure)]
pub fn builtin_set_inter(
	a: Either![IStr, ArrValue],
	b: Either![IStr, ArrValue],
	#[default] keyF: KeyF,
) -> Result<Vec<Thunk<Val>>> {
	let (a, b) = (set_operand(a), set_operand(b));
	let mut a = a.iter_lazy();
	let mut b = b.iter_lazy();

	let keyF = |v| keyF.eval(v);

	let mut av = a.next();
	let mut bv = b.next();
	let mut ak = av.clone().map(keyF).transpose()?;
	let mut bk = bv.map(keyF).transpose()?;

	let mut out = Vec::new();
	while let (Some(ac), Some(bc)) = (&ak, &bk) {
		match Val::try_cmp(ac, bc)? {
			Ordering::Less => {
				av = a.next();
				ak = av.clone().map(keyF).transpose()?;
			}
			Ordering::Greater => {
				bv = b.next();
				bk = bv.map(keyF).transpose()?;
			}
			Ordering::Equal => {
				out.push(av.clone().expect("ak != None => av != None"));
				av = a.next();
				ak = av.clone().map(keyF).transpose()?;
				bv = b.next();
				bk = bv.map(keyF).transpose()?;
			}
		}
	}
	Ok(out)
}

#[builtin]
#[allow(non_snake_case, clippy::redundant_closure)]
pub fn builtin_set_diff(
	a: Either![IStr, ArrValue],
	b: Either![IStr, ArrValue],
	#[default] keyF: KeyF,
) -> Result<Vec<Thunk<Val>>> {
	let (a, b) = (set_operand(a), set_operand(b));
	let mut a = a.iter_lazy();
	let mut b = b.iter_lazy();

	let keyF = |v| keyF.eval(v);

	let mut av = a.next();
	let mut bv = b.next();
	let mut ak = av.clone().map(keyF).transpose()?;
	let mut bk = bv.map(keyF).transpose()?;

	let mut out = Vec::new();
	while let (Some(ac), Some(bc)) = (&ak, &bk) {
		match Val::try_cmp(ac, bc)? {
			Ordering::Less => {
				// In a, but not in b
				out.push(av.clone().expect("ak != None"));
				av = a.next();
				ak = av.clone().map(keyF).transpose()?;
			}
			Ordering::Greater => {
				bv = b.next();
				bk = bv.map(keyF).transpose()?;
			}
			Ordering::Equal => {
				av = a.next();
				ak = av.clone().map(keyF).transpose()?;
				bv = b.next();
				bk = bv.map(keyF).transpose()?;
			}
		}
	}
	while let Some(_ac) = &ak {
		// In a, but not in b
		out.push(av.clone().expect("ak != None"));
		av = a.next();
		ak = av.clone().map(keyF).transpose()?;
	}
	Ok(out)
}

#[builtin]
#[allow(non_snake_case, clippy::redundant_closure)]
pub fn builtin_set_union(
	a: Either![IStr, ArrValue],
	b: Either![IStr, ArrValue],
	#[default] keyF: KeyF,
) -> Result<Vec<Thunk<Val>>> {
	let (a, b) = (set_operand(a), set_operand(b));
	let mut a = a.iter_lazy();
	let mut b = b.iter_lazy();

	let keyF = |v| keyF.eval(v);

	let mut av = a.next();
	let mut bv = b.next();
	let mut ak = av.clone().map(keyF).transpose()?;
	let mut bk = bv.clone().map(keyF).transpose()?;

	let mut out = Vec::new();
	while let (Some(ac), Some(bc)) = (&ak, &bk) {
		match Val::try_cmp(ac, bc)? {
			Ordering::Less => {
				out.push(av.clone().expect("ak != None"));
				av = a.next();
				ak = av.clone().map(keyF).transpose()?;
			}
			Ordering::Greater => {
				out.push(bv.clone().expect("bk != None"));
				bv = b.next();
				bk = bv.clone().map(keyF).transpose()?;
			}
			Ordering::Equal => {
				// NOTE: order matters, values in `a` win
				out.push(av.clone().expect("ak != None"));
				av = a.next();
				ak = av.clone().map(keyF).transpose()?;
				bv = b.next();
				bk = bv.clone().map(keyF).transpose()?;
			}
		}
	}
	// a.len() > b.len()
	while let Some(_ac) = &ak {
		out.push(av.clone().expect("ak != None"));
		av = a.next();
		ak = av.clone().map(keyF).transpose()?;
	}
	// b.len() > a.len()
	while let Some(_bc) = &bk {
		out.push(bv.clone().expect("ak != None"));
		bv = b.next();
		bk = bv.clone().map(keyF).transpose()?;
	}
	Ok(out)
}

/// Capstan patch: jsonnet's own `std.setInter`, `setDiff` and `setUnion`
/// index their operands, so a string is taken as its characters there
/// (jsonnet 0.18's test suite, `invariant_manifest.jsonnet`).
fn set_operand(value: Either![IStr, ArrValue]) -> ArrValue {
	match value {
		Either2::A(s) => s.chars().map(|c| Val::string(c.to_string())).collect(),
		Either2::B(a) => a,
	}
}
