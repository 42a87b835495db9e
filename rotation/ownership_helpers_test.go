package rotation

import "github.com/rotatord/rotatord/state"

func stateRecord(policy, name, role, current string) state.Record {
	return state.Record{Policy: policy, Name: name, RoleID: role, CurrentKeyID: current}
}
