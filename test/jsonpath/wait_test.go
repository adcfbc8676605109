// Package jsonpath checks what the waiter's `kubectl wait --for=jsonpath=...=True`
// decides for a Job in each state, with client-go's jsonpath, without a cluster.
package jsonpath

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"k8s.io/client-go/util/jsonpath"
)

// An expression, read from the library's source so that this test cannot drift from it.
func constant(t *testing.T, file, name string) string {
	t.Helper()
	src, err := os.ReadFile("../../src/" + file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^export const `+name+` = '([^']+)';$`).FindAllSubmatch(src, -1)
	if len(m) != 1 {
		t.Fatalf("expected one %s = '...' line in src/%s, found %d", name, file, len(m))
	}
	return string(m[0][1])
}

func jobDoneJSONPath(t *testing.T) string { return constant(t, "waiter.ts", "JOB_DONE_JSONPATH") }

type decision string

const (
	keepWaiting decision = "keep waiting"
	exit0       decision = "exit 0"
	exit1       decision = "exit 1"
)

// splitForValue splits on single '=' as k8s.io/kubectl v0.36.6 pkg/cmd/wait/wait.go
// splitJSONPathInput does: "==" stays inside a part.
func splitForValue(input string) []string {
	var out []string
	var part strings.Builder
	for i := 0; i < len(input); i++ {
		if input[i] == '=' {
			if i < len(input)-1 && input[i+1] == '=' {
				part.WriteString("==")
				i++
				continue
			}
			out = append(out, part.String())
			part.Reset()
			continue
		}
		part.WriteByte(input[i])
	}
	return append(out, part.String())
}

// relaxed is kubectl's RelaxedJSONPathExpression (pkg/cmd/get/customcolumn.go).
var relaxed = regexp.MustCompile(`^\{\.?([^{}]+)\}$|^\.?([^{}]+)$`)

// waitFor parses `--for=jsonpath=<expression>=<value>` as kubectl v0.36.6 does
// (processJSONPathInput, newJSONPathParser) and returns what checkCondition
// (pkg/cmd/wait/json.go) decides for one object: no match or an empty first
// list keeps waiting; more than one list or value is an error, on which kubectl
// exits 1; otherwise the one value, printed with %v and trimmed, must equal the
// wanted one.
func waitFor(forFlag string) (func(obj map[string]interface{}) (decision, error), error) {
	input, ok := strings.CutPrefix(forFlag, "jsonpath=")
	if !ok {
		return nil, fmt.Errorf("not a jsonpath condition: %q", forFlag)
	}
	parts := splitForValue(input)
	if len(parts) != 2 {
		return nil, fmt.Errorf("want <expression>=<value>, got %d parts", len(parts))
	}
	sub := relaxed.FindStringSubmatch(parts[0])
	if sub == nil {
		return nil, fmt.Errorf("kubectl would refuse the path %q", parts[0])
	}
	field := sub[1]
	if field == "" {
		field = sub[2]
	}
	want := strings.Trim(parts[1], `'"`)
	parser := jsonpath.New("wait").AllowMissingKeys(true)
	if err := parser.Parse(fmt.Sprintf("{.%s}", field)); err != nil {
		return nil, err
	}
	return func(obj map[string]interface{}) (decision, error) {
		results, err := parser.FindResults(obj)
		if err != nil {
			return exit1, err
		}
		if len(results) == 0 || len(results[0]) == 0 {
			return keepWaiting, nil
		}
		if len(results) > 1 {
			return exit1, errors.New("given jsonpath expression matches more than one list")
		}
		if len(results[0]) > 1 {
			return exit1, errors.New("given jsonpath expression matches more than one value")
		}
		switch results[0][0].Interface().(type) {
		case map[string]interface{}, []interface{}:
			return exit1, errors.New("jsonpath leads to a nested object or list which is not supported")
		}
		if strings.TrimSpace(fmt.Sprintf("%v", results[0][0].Interface())) == strings.TrimSpace(want) {
			return exit0, nil
		}
		return keepWaiting, nil
	}, nil
}

// A Job whose status has these conditions (type=status), as the API server
// returns it to the watch: unstructured JSON.
func job(conditions ...string) map[string]interface{} {
	status := map[string]interface{}{"active": int64(1)}
	if len(conditions) > 0 {
		list := []interface{}{}
		for _, c := range conditions {
			typ, value, _ := strings.Cut(c, "=")
			list = append(list, map[string]interface{}{"type": typ, "status": value, "reason": "Test", "lastTransitionTime": "2026-01-01T00:00:00Z"})
		}
		status["conditions"] = list
	}
	return map[string]interface{}{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]interface{}{"name": "shop-migrate-0123456789"}, "status": status}
}

func withConditions(obj map[string]interface{}, conditions []interface{}) map[string]interface{} {
	obj["status"].(map[string]interface{})["conditions"] = conditions
	return obj
}

func TestJobDoneJSONPath(t *testing.T) {
	check, err := waitFor("jsonpath=" + jobDoneJSONPath(t) + "=True")
	if err != nil {
		t.Fatalf("kubectl would refuse the --for flag: %v", err)
	}
	cases := []struct {
		state string
		job   map[string]interface{}
		want  decision
	}{
		{"running: no conditions yet", job(), keepWaiting},
		{"running, with an empty list of conditions", withConditions(job(), []interface{}{}), keepWaiting},
		{"suspended", job("Suspended=True"), keepWaiting},
		{"resumed", job("Suspended=False"), keepWaiting},
		{"success decided, pods still terminating", job("SuccessCriteriaMet=True"), keepWaiting},
		{"complete", job("SuccessCriteriaMet=True", "Complete=True"), exit0},
		{"complete, from a controller before SuccessCriteriaMet", job("Complete=True"), exit0},
		{"resumed, then complete", job("Suspended=False", "SuccessCriteriaMet=True", "Complete=True"), exit0},
		{"failure decided (FailureTarget), pods still terminating", job("FailureTarget=True"), exit1},
		{"failed", job("FailureTarget=True", "Failed=True"), exit1},
		{"failed, from a controller before FailureTarget", job("Failed=True"), exit1},
		{"suspended, then failed", job("Suspended=False", "FailureTarget=True", "Failed=True"), exit1},
	}
	for _, c := range cases {
		t.Run(c.state, func(t *testing.T) {
			got, err := check(c.job)
			if got != c.want {
				t.Errorf("kubectl would %s (error: %v), want %s", got, err, c.want)
			}
			if (got == exit1) != (err != nil) {
				t.Errorf("exit 1 comes with kubectl's error and only then; got %s with error %v", got, err)
			}
		})
	}
}

// The emulation is not blind: it tells apart what the comment on JOB_DONE_JSONPATH says.
func TestEmulationSeesTheDifference(t *testing.T) {
	// A single filter for Complete never ends the wait for a failed Job.
	check, err := waitFor(`jsonpath={.status.conditions[?(@.type=="Complete")].status}=True`)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := check(job("FailureTarget=True", "Failed=True")); got != keepWaiting {
		t.Errorf("a Complete-only filter on a failed Job: got %s, want %s", got, keepWaiting)
	}
	// A union whose first member is a filter does not parse without the space after '['.
	if _, err := waitFor(`jsonpath={.status.conditions[?(@.type=="Complete"),?(@.type=="Failed")].status}=True`); err == nil {
		t.Error("the union without a space parsed; the comment on JOB_DONE_JSONPATH says it does not")
	}
	// A value other than the wanted one keeps waiting, as kubectl does.
	check, err = waitFor(`jsonpath={.status.conditions[?(@.type=="Complete")].status}=True`)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := check(job("Complete=False")); got != keepWaiting {
		t.Errorf("Complete=False: got %s, want %s", got, keepWaiting)
	}
}

// The migration queue (src/queue.ts) waits for earlier Jobs with
// `--for=jsonpath=$ENDED=True` and goes on whatever kubectl decides: a Job has
// ended once it is Complete or Failed, not while its failure is only decided.
func TestJobEndedJSONPath(t *testing.T) {
	check, err := waitFor("jsonpath=" + constant(t, "queue.ts", "JOB_ENDED_JSONPATH") + "=True")
	if err != nil {
		t.Fatalf("kubectl would refuse the --for flag: %v", err)
	}
	cases := []struct {
		state string
		job   map[string]interface{}
		want  decision
	}{
		{"running", job(), keepWaiting},
		{"suspended", job("Suspended=True"), keepWaiting},
		{"success decided", job("SuccessCriteriaMet=True"), keepWaiting},
		{"failure decided", job("FailureTarget=True"), keepWaiting},
		{"complete", job("SuccessCriteriaMet=True", "Complete=True"), exit0},
		{"failed", job("FailureTarget=True", "Failed=True"), exit0},
		{"failed, from a controller before FailureTarget", job("Failed=True"), exit0},
	}
	for _, c := range cases {
		t.Run(c.state, func(t *testing.T) {
			if got, err := check(c.job); got != c.want {
				t.Errorf("kubectl would %s (error: %v), want %s", got, err, c.want)
			}
		})
	}
}
