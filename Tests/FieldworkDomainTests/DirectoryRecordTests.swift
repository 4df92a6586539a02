import FieldworkDomain
import Testing

@Suite struct DirectoryRecordTests {
    func row(_ line: Int, _ values: [String: String]) -> CsvRow { CsvRow(line: line, values: values) }

    @Test func aPersonRowParses() throws {
        let person = try PersonRecord(row: row(2, [
            "id": "E1001", "name": "张伟", "department": "sales", "region": "杭州", "supervisor_id": "M2001", "roles": "rep|kam",
        ]))
        #expect(person.roles == [.rep, .kam])
        #expect(person.csvValues.count == PersonRecord.csvColumns.count)
    }

    @Test func errorsNameLineAndColumn() {
        #expect(throws: CsvRowError(line: 7, column: "roles", message: "'boss' is not a role")) {
            try PersonRecord(row: row(7, ["id": "E1", "name": "x", "department": "sales", "roles": "boss"]))
        }
        #expect { try PersonRecord(row: row(3, ["id": "E1", "name": "x", "department": "kitchen", "roles": "rep"])) } throws: {
            ($0 as? CsvRowError)?.column == "department" && ($0 as? CsvRowError)?.line == 3
        }
        #expect { try PersonRecord(row: row(4, ["id": "E 1", "name": "x", "department": "sales", "roles": "rep"])) } throws: {
            ($0 as? CsvRowError)?.column == "id"
        }
        #expect { try PersonRecord(row: row(5, ["id": "E1", "name": "x", "department": "sales", "roles": "service"])) } throws: {
            ($0 as? CsvRowError)?.column == "roles"
        }
    }

    @Test func aCustomerRowDefaultsTheFenceAndGrade() throws {
        let customer = try CustomerRecord(row: row(2, [
            "id": "H-ZJ-001", "name": "浙一", "region": "杭州", "latitude": "30.2527", "longitude": "120.1780",
        ]))
        #expect(customer.fence.radiusMeters == 300)
        #expect(customer.grade == "C")
    }

    @Test func customerCoordinatesAreChecked() {
        #expect { try CustomerRecord(row: row(9, ["id": "H1", "name": "x", "region": "杭州", "latitude": "95", "longitude": "120"])) } throws: {
            ($0 as? CsvRowError) == CsvRowError(line: 9, column: "latitude", message: "must be within [-90, 90], got 95.0")
        }
        #expect { try CustomerRecord(row: row(9, ["id": "H1", "name": "x", "region": "杭州", "latitude": "north", "longitude": "120"])) } throws: {
            ($0 as? CsvRowError)?.column == "latitude"
        }
        #expect { try CustomerRecord(row: row(9, ["id": "H1", "name": "x", "region": "杭州", "latitude": "30", "longitude": "120", "grade": "S"])) } throws: {
            ($0 as? CsvRowError)?.column == "grade"
        }
    }

    @Test func contactsParseFromTheirCsvCell() {
        let contact = CustomerContact(csv: "王建国/器械科主任/器械科/0571-87236114")
        #expect(contact == CustomerContact(name: "王建国", title: "器械科主任", department: "器械科", phone: "0571-87236114"))
        #expect(contact.csvValue == "王建国/器械科主任/器械科/0571-87236114")
        #expect(CustomerContact(csv: "李敏").csvValue == "李敏")
        #expect(CustomerContact(csv: "李敏/医生").title == "医生")
        #expect(contact.problem == nil)
        #expect(CustomerContact(name: "").problem?.field == "name")
        #expect(CustomerContact(name: "张三", phone: "call me").problem?.field == "phone")
        #expect(CustomerContact(name: "张三", title: "a|b").problem != nil)
    }
}
