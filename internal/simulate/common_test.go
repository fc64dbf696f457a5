package simulate

import (
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func ptr(v float64) *float64 { return &v }

// titanicFields mirrors the example configuration's schema.
var titanicFields = []config.Field{
	{Name: "pclass", Type: schema.TypeInteger, Required: true, Allowed: []any{1, 2, 3}},
	{Name: "sex", Type: schema.TypeString, Required: true, Allowed: []any{"male", "female"}},
	{Name: "age", Type: schema.TypeNumber, Min: ptr(0), Max: ptr(120), Missing: []any{-1}},
	{Name: "sibsp", Type: schema.TypeInteger, Required: true, Min: ptr(0), Max: ptr(20)},
	{Name: "parch", Type: schema.TypeInteger, Required: true, Min: ptr(0), Max: ptr(20)},
	{Name: "fare", Type: schema.TypeNumber, Min: ptr(0), Max: ptr(10000), Missing: []any{-1}},
	{Name: "embarked", Type: schema.TypeString, Allowed: []any{"S", "C", "Q"}},
}

var titanicTraining = config.Training{
	IDColumn:    "PassengerId",
	LabelColumn: "Survived",
	Columns: map[string]string{
		"Pclass": "pclass", "Sex": "sex", "Age": "age", "SibSp": "sibsp",
		"Parch": "parch", "Fare": "fare", "Embarked": "embarked",
	},
}

// syntheticRows returns n rows with correlated fields: age = 20 + i%50,
// fare = 2·age, sex female on even i, embarked missing every 5th row; the
// label is 1 for female.
func syntheticRows(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		age := float64(20 + i%50)
		sex := "male"
		if i%2 == 0 {
			sex = "female"
		}
		var emb any = "S"
		if i%5 == 0 {
			emb = nil
		}
		label := 0
		if sex == "female" {
			label = 1
		}
		rows[i] = Row{
			Input: schema.Input{"pclass": float64(1 + i%3), "sex": sex, "age": age, "sibsp": 0.0,
				"parch": 0.0, "fare": 2 * age, "embarked": emb},
			Label: label, HasLabel: true,
		}
	}
	return rows
}
