# Sourced by the bench scripts: gate_args VARIANT prints the --set flags of a gate variant
# (none, sdpa-elementwise, sdpa-headwise).
gate_args() {
  case "$1" in
    none) ;;
    sdpa-elementwise) echo "--set model.attention_gate.position=sdpa --set model.attention_gate.granularity=elementwise" ;;
    sdpa-headwise) echo "--set model.attention_gate.position=sdpa --set model.attention_gate.granularity=headwise" ;;
  esac
}
