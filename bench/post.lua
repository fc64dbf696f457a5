-- wrk script: POST the original route's request body with keep-alive.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"pclass":3,"sex":"male","sibsp":0,"parch":0,"fare":7.25,"embarked":"S","age":22,"passid":"1"}'
