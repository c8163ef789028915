// The Verhoeff check digit (dihedral group D5), as the server's authd/uin.py computes it.
const D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
  [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
  [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
  [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
  [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];
const INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

export function checkDigit(payload) {
  let c = 0;
  const digits = [...payload].reverse();
  digits.forEach((ch, i) => { c = D[c][P[(i + 1) % 8][Number(ch)]]; });
  return String(INV[c]);
}

export function verhoeffValid(number) {
  if (!/^[0-9]+$/.test(number)) return false;
  let c = 0;
  [...number].reverse().forEach((ch, i) => { c = D[c][P[i % 8][Number(ch)]]; });
  return c === 0;
}

// What a typed ID is: {kind: "uin"|"vid"|null, state: "empty"|"partial"|"bad"|"ok"}.
export function classifyId(text) {
  if (text === "") return { kind: null, state: "empty" };
  if (!/^[0-9]+$/.test(text)) return { kind: null, state: "bad" };
  if (text.length < 12 || (text.length > 12 && text.length < 16)) {
    return { kind: null, state: "partial" };
  }
  if (text.length === 12) {
    const ok = verhoeffValid(text) && !"01".includes(text[0]);
    return { kind: "uin", state: ok ? "ok" : "bad" };
  }
  if (text.length === 16) return { kind: "vid", state: verhoeffValid(text) ? "ok" : "bad" };
  return { kind: null, state: "bad" };
}
