export default {};
export function parse() { return {}; }
